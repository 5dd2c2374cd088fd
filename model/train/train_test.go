package train

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ood-agent/ood-agent/model/dataset"
)

// lossOf evaluates the full training objective of one labelled sample and one
// outlier, in float64 terms, for numerical gradient checks.
func lossOf(p *Params, in, out []uint8, label int, opts Options) float64 {
	a := newActivations()
	d := make([]float32, Classes)
	s := make([]float32, Classes)
	normalize(in, a.input)
	p.forward(a)
	loss := crossEntropyGrad(a.logits, label, d)
	loss += energyHingeGrad(a.logits, +1, opts.MIn, opts.Lambda, d, s)
	normalize(out, a.input)
	p.forward(a)
	loss += energyHingeGrad(a.logits, -1, opts.MOut, opts.Lambda, d, s)
	return loss
}

func randomImage(rng *rand.Rand) []uint8 {
	img := make([]uint8, Side*Side)
	for i := range img {
		img[i] = uint8(rng.IntN(256))
	}
	return img
}

// TestGradientsNumerically compares backward() with central differences of
// the loss (cross-entropy plus both energy hinge terms) on sampled weights of
// every parameter tensor.
func TestGradientsNumerically(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	p := NewParams(3)
	// Smooth images: noise puts many ReLU and max-pool kinks within ±eps.
	in, out := smoothImage(0.3), smoothImage(1.7)
	g := newParams()
	a := newActivations()
	d := make([]float32, Classes)
	s := make([]float32, Classes)
	// Margins one unit past the current energies keep both hinge terms
	// active yet small, so float32 rounding does not swamp the differences.
	normalize(in, a.input)
	p.forward(a)
	eIn := energy(a.logits, s)
	normalize(out, a.input)
	p.forward(a)
	eOut := energy(a.logits, s)
	opts := Options{Lambda: 0.1, MIn: eIn - 1, MOut: eOut + 1}
	normalize(in, a.input)
	p.forward(a)
	crossEntropyGrad(a.logits, 4, d)
	if energyHingeGrad(a.logits, +1, opts.MIn, opts.Lambda, d, s) == 0 {
		t.Fatal("in-distribution hinge inactive; the check would not cover it")
	}
	p.backward(a, d, g)
	normalize(out, a.input)
	p.forward(a)
	clear(d)
	if energyHingeGrad(a.logits, -1, opts.MOut, opts.Lambda, d, s) == 0 {
		t.Fatal("outlier hinge inactive")
	}
	p.backward(a, d, g)

	names := []string{"conv1/w", "conv1/b", "conv2/w", "conv2/b", "fc1/w", "fc1/b", "fc2/w", "fc2/b"}
	const eps = 5e-4
	for k, w := range p.slices() {
		grad := g.slices()[k]
		checked, bad := 0, 0
		for trial := 0; trial < 40; trial++ {
			i := rng.IntN(len(w))
			if math.Abs(float64(grad[i])) < 1e-2 {
				continue // ReLU-dead or tiny: finite differences are noise there
			}
			orig := w[i]
			w[i] = orig + eps
			lp := lossOf(p, in, out, 4, opts)
			w[i] = orig - eps
			lm := lossOf(p, in, out, 4, opts)
			w[i] = orig
			num := (lp - lm) / (2 * eps)
			checked++
			if rel := math.Abs(num-float64(grad[i])) / math.Max(math.Abs(num), math.Abs(float64(grad[i]))); rel > 0.05 {
				bad++
				t.Logf("%s[%d]: analytic %g numeric %g", names[k], i, grad[i], num)
			}
		}
		if checked < 5 {
			t.Errorf("%s: only %d entries with a usable gradient", names[k], checked)
		}
		// A kink of ReLU or max-pool inside ±eps can spoil one difference.
		if bad > checked/10 {
			t.Errorf("%s: %d of %d gradients disagree with finite differences", names[k], bad, checked)
		}
	}
}

// TestTrainLearnsSeparableData trains on two synthetic classes (bright left
// half vs bright right half) and expects near-perfect accuracy, and the
// energy fine-tuning to raise the energy of noise images.
func TestTrainLearnsSeparableData(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	var samples []Sample
	for i := 0; i < 256; i++ {
		img := make([]uint8, Side*Side)
		label := i % 2
		for y := 0; y < Side; y++ {
			for x := 0; x < Side; x++ {
				if (x < Side/2) == (label == 0) {
					img[y*Side+x] = uint8(150 + rng.IntN(100))
				} else {
					img[y*Side+x] = uint8(rng.IntN(40))
				}
			}
		}
		samples = append(samples, Sample{Pixels: img, Label: label})
	}
	p := NewParams(1)
	if _, err := Train(context.Background(), p, samples, Options{Epochs: 2, BatchSize: 32, LR: 1e-3, Seed: 1, Workers: 2}); err != nil {
		t.Fatal(err)
	}
	if acc := Accuracy(p, samples); acc < 0.95 {
		t.Errorf("Accuracy = %.3f, want >= 0.95", acc)
	}
	noise := &dataset.Images{N: 64, Height: Side, Width: Side}
	for i := 0; i < 64; i++ {
		noise.Pixels = append(noise.Pixels, randomImage(rng)...)
	}
	before := MeanEnergy(p, noise, 64)
	idEnergy := MeanEnergy(p, &dataset.Images{N: 1, Height: Side, Width: Side, Pixels: samples[0].Pixels}, 1)
	opts := Options{Epochs: 2, BatchSize: 32, LR: 5e-4, Seed: 2, Workers: 2, Outliers: noise, Lambda: 0.1, MIn: idEnergy - 2, MOut: before + 5}
	if _, err := Train(context.Background(), p, samples, opts); err != nil {
		t.Fatal(err)
	}
	if after := MeanEnergy(p, noise, 64); after <= before {
		t.Errorf("outlier energy %.3f after fine-tuning, want above %.3f", after, before)
	}
}

func smoothImage(phase float64) []uint8 {
	img := make([]uint8, Side*Side)
	for y := 0; y < Side; y++ {
		for x := 0; x < Side; x++ {
			img[y*Side+x] = uint8(128 + 100*math.Sin(float64(x)/4+phase)*math.Cos(float64(y)/5-phase))
		}
	}
	return img
}
