package adapt

import (
	"context"
	"math/rand/v2"
	"testing"
)

// BenchmarkTrain is one adaptation of the demo model's last layer (128
// features, 10 classes) on 1,000 ID samples and 100 outliers with the
// default 300 steps.
func BenchmarkTrain(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	head := randomHead(rng, 10, 128)
	id := clusters(rng, 10, 128, 100, 0.5)
	var outliers [][]float32
	for _, s := range clusters(rng, 10, 128, 10, 2) {
		outliers = append(outliers, s.Features)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, _, err := Train(context.Background(), head, id, outliers, Options{MaxAccuracyDrop: 1}); err != nil {
			b.Fatal(err)
		}
	}
}
