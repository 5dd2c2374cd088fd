package adapt

import (
	"context"
	"math/rand/v2"
	"testing"
)

// BenchmarkTrain is one adaptation of the demo model's last layer (128
// features, 10 classes) on 1,000 ID samples and 100 outliers with the
// default 300 steps.
func BenchmarkTrain(b *testing.B) { benchTrain(b, 1, 10, 10, 128, 100) }

// BenchmarkTrainMobileNetHead is one adaptation of a MobileNet-size last
// layer (1,280 features, 1,001 classes) on 1,000 ID samples (200 classes,
// 5 each) and 100 outliers, with the default 300 steps: the issue's
// "≤ 60 s for 1,000 samples" case for camera models.
func BenchmarkTrainMobileNetHead(b *testing.B) { benchTrain(b, 3, 1001, 200, 1280, 5) }

// benchTrain trains a random head of the given shape on perClass samples
// of each of idClasses clusters plus a tenth as many outliers.
func benchTrain(b *testing.B, seed uint64, classes, idClasses, dim, perClass int) {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	head := randomHead(rng, classes, dim)
	id := clusters(rng, idClasses, dim, perClass, 0.5)
	var outliers [][]float32
	for _, s := range clusters(rng, idClasses*perClass/10, dim, 1, 2) {
		outliers = append(outliers, s.Features)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, _, err := Train(context.Background(), head, id, outliers, Options{MaxAccuracyDrop: 1}); err != nil {
			b.Fatal(err)
		}
	}
}
