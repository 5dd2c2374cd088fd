// Command report evaluates the embedded demo models as OOD detectors and
// writes docs/evaluation.md with the plots next to it. `make evaluate` runs
// it. ID is the Fashion-MNIST test set; the OOD sets are the MNIST test set,
// uniform and Gaussian noise, inverted Fashion-MNIST test images, and patches
// of natural images held out from the fine-tuning outliers.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/ood-agent/ood-agent/model/dataset"
	"github.com/ood-agent/ood-agent/model/detect"
	"github.com/ood-agent/ood-agent/model/ood"
	"github.com/ood-agent/ood-agent/model/ood/plot"
	"github.com/ood-agent/ood-agent/model/zoo"
)

type oodSet struct {
	name, about string
	images      *dataset.Images
}

type row struct {
	set    string
	method ood.Method
	r      ood.Result
}

type modelResult struct {
	name     string
	accuracy float64
	rows     []row
	id       map[ood.Method][]float64
	ood      map[string]map[ood.Method][]float64
	calib    *ood.Calibration
	// kept is the fraction of the ID test set each score keeps at the
	// threshold calibrated on the held-out training images (target 95%).
	kept      map[ood.Method]float64
	bankBytes map[ood.Method]int
	field     []fieldRow
	// knnInt8 is knn's mean FPR95 with the int8 bank, and its bytes.
	knnInt8      float64
	knnInt8Bytes int
}

// allMethods are the scores the report compares.
func allMethods() []ood.Method { return append(ood.LogitMethods(), ood.FeatureMethods()...) }

func main() {
	var (
		fashion = flag.String("fashion", "/usr/share/datasets/fashion-mnist", "Fashion-MNIST idx directory")
		mnist   = flag.String("mnist", "", "MNIST idx directory (the GoMNIST module's data/)")
		natural = flag.String("natural", "", "natural images directory (the odd half is used, the even half trained the energy models)")
		out     = flag.String("out", "docs", "output directory")
	)
	flag.Parse()
	if err := run(*fashion, *mnist, *natural, *out); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

func run(fashionDir, mnistDir, naturalDir, out string) error {
	idImages, err := dataset.ReadIdxImages(filepath.Join(fashionDir, "t10k-images-idx3-ubyte.gz"))
	if err != nil {
		return err
	}
	idLabels, err := dataset.ReadIdxLabels(filepath.Join(fashionDir, "t10k-labels-idx1-ubyte.gz"))
	if err != nil {
		return err
	}
	trainImages, err := dataset.ReadIdxImages(filepath.Join(fashionDir, "train-images-idx3-ubyte.gz"))
	if err != nil {
		return err
	}
	trainLabels, err := dataset.ReadIdxLabels(filepath.Join(fashionDir, "train-labels-idx1-ubyte.gz"))
	if err != nil {
		return err
	}
	fit, calib := fitAndCalibration(trainImages)
	calibLabels := trainLabels[len(trainLabels)-holdout:]
	var sets []oodSet
	var field *dataset.Images
	mn, err := dataset.ReadIdxImages(filepath.Join(mnistDir, "t10k-images-idx3-ubyte.gz"))
	if err != nil {
		return err
	}
	sets = append(sets, oodSet{"MNIST", "MNIST test set, 10,000 handwritten digits", mn})
	for _, kind := range []string{"uniform", "gaussian"} {
		s, err := dataset.Open("noise:" + kind + ":10000")
		if err != nil {
			return err
		}
		sets = append(sets, oodSet{kind + " noise", kind + " pixel noise, 10,000 images (seeded)", s.Images})
	}
	inv := &dataset.Images{N: idImages.N, Height: 28, Width: 28, Pixels: make([]uint8, len(idImages.Pixels))}
	for i, p := range idImages.Pixels {
		inv.Pixels[i] = 255 - p
	}
	sets = append(sets, oodSet{"inverted Fashion-MNIST", "Fashion-MNIST test images with inverted pixel values", inv})
	if naturalDir != "" {
		paths, err := dataset.ImageFiles(naturalDir)
		if err != nil {
			return err
		}
		held := dataset.Split(paths, true)
		p, err := dataset.Patches(held, 10000, 28, 777)
		if err != nil {
			return err
		}
		sets = append(sets, oodSet{"natural patches", fmt.Sprintf("10,000 patches of %d natural images never used in fine-tuning", len(held)), p})
		if field, err = dataset.Patches(dataset.Split(paths, false), 1000, 28, 4242); err != nil {
			return err
		}
	}

	var results []*modelResult
	for _, name := range []string{"fashion_mnist_cnn", "fashion_mnist_cnn_int8", "fashion_mnist_cnn_energy", "fashion_mnist_cnn_energy_int8"} {
		fmt.Fprintf(os.Stderr, "evaluating %s\n", name)
		r, err := evaluate(name, data{id: idImages, labels: idLabels, fit: fit, calib: calib, calibLabels: calibLabels, field: field, sets: sets})
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	best := bestFeatureMethod(results[0])
	if err := writePlot(filepath.Join(out, "evaluation.png"), results[0], sets, best); err != nil {
		return err
	}
	if err := writePlot(filepath.Join(out, "evaluation_energy.png"), results[2], sets, best); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(out, "evaluation.md"))
	if err != nil {
		return err
	}
	defer f.Close()
	writeReport(f, results, sets)
	return f.Close()
}

// holdout is the number of training images the demo models never trained
// on (model/zoo/gen): their calibration set.
const holdout = 5000

// fitAndCalibration splits the training images: every fifth of the images
// the models trained on fits the feature scores (11,000), the held-out
// ones calibrate the thresholds.
func fitAndCalibration(train *dataset.Images) (fit, calib *dataset.Images) {
	size := train.Width * train.Height
	fit = &dataset.Images{Height: train.Height, Width: train.Width}
	for i := 0; i < train.N-holdout; i += 5 {
		fit.Pixels = append(fit.Pixels, train.At(i)...)
		fit.N++
	}
	calib = &dataset.Images{N: holdout, Height: train.Height, Width: train.Width, Pixels: train.Pixels[(train.N-holdout)*size:]}
	return fit, calib
}

// outputs are the logits and penultimate features of a set of images.
type outputs struct {
	logits, features [][]float32
	correct          int
}

// run passes every image through the detector and keeps its outputs.
func runImages(d *detect.Detector, images *dataset.Images, labels []uint8) (*outputs, error) {
	o := &outputs{}
	for i := 0; i < images.N; i++ {
		r, err := d.Gray(images.At(i), images.Width, images.Height)
		if err != nil {
			return nil, err
		}
		f, err := d.Features()
		if err != nil {
			return nil, err
		}
		o.logits = append(o.logits, slices.Clone(d.Logits()))
		o.features = append(o.features, slices.Clone(f))
		if labels != nil && r.Label == int(labels[i]) {
			o.correct++
		}
	}
	return o, nil
}

// data is everything a model is evaluated on.
type data struct {
	id     *dataset.Images
	labels []uint8
	fit    *dataset.Images // training images the feature scores are fitted on
	calib  *dataset.Images // held-out training images that set the thresholds
	// calibLabels are the classes of calib, given to false alarms in the
	// field experiment.
	calibLabels []uint8
	// field are OOD images of the seen family for the field experiment.
	field *dataset.Images
	sets  []oodSet
}

func evaluate(name string, in data) (*modelResult, error) {
	file, calib, err := zoo.Open(name)
	if err != nil {
		return nil, err
	}
	d, err := detect.New(file, detect.Options{Calibration: calib})
	if err != nil {
		return nil, err
	}
	defer d.Close()
	head, err := d.Head()
	if err != nil {
		return nil, err
	}
	res := &modelResult{name: name, calib: calib, id: map[ood.Method][]float64{}, ood: map[string]map[ood.Method][]float64{},
		kept: map[ood.Method]float64{}, bankBytes: map[ood.Method]int{}}
	fit, err := runImages(d, in.fit, nil)
	if err != nil {
		return nil, err
	}
	held, err := runImages(d, in.calib, nil)
	if err != nil {
		return nil, err
	}
	id, err := runImages(d, in.id, in.labels)
	if err != nil {
		return nil, err
	}
	res.accuracy = float64(id.correct) / float64(in.id.N)
	sets := make([]*outputs, len(in.sets))
	byName := map[string]*outputs{}
	for i, s := range in.sets {
		if sets[i], err = runImages(d, s.images, nil); err != nil {
			return nil, err
		}
		byName[s.name] = sets[i]
	}
	if in.field != nil && byName[fieldSeen] != nil {
		field, err := runImages(d, in.field, nil)
		if err != nil {
			return nil, err
		}
		for _, n := range []int{50, 200} {
			for seed := uint64(1); seed <= fieldSeeds; seed++ {
				res.field = append(res.field, fieldExperiment(file, d, calib, held, id, field, in.calibLabels, in.labels, byName, n, seed))
			}
		}
	}
	for _, m := range allMethods() {
		var fd *ood.FeatureData
		if m.NeedsFeatures() {
			// float16 storage: the bank is searched as float32, the
			// fastest form in pure Go; the per-frame benchmark covers int8.
			if fd, err = ood.Fit(m, fit.features, ood.FitOptions{Storage: ood.StorageFloat16, Seed: 1}); err != nil {
				return nil, err
			}
			if fd.Bank != nil {
				res.bankBytes[m] = fd.Bank.Bytes()
			}
		}
		score := func(o *outputs) ([]float64, error) {
			return scoreAll(m, calib.Temperature, head, fd, o)
		}
		heldScores, err := score(held)
		if err != nil {
			return nil, err
		}
		tau, _, err := ood.Threshold(heldScores, 0.95)
		if err != nil {
			return nil, err
		}
		if res.id[m], err = score(id); err != nil {
			return nil, err
		}
		kept := 0
		for _, v := range res.id[m] {
			if v >= tau {
				kept++
			}
		}
		res.kept[m] = float64(kept) / float64(len(res.id[m]))
		for i, s := range in.sets {
			if res.ood[s.name] == nil {
				res.ood[s.name] = map[ood.Method][]float64{}
			}
			if res.ood[s.name][m], err = score(sets[i]); err != nil {
				return nil, err
			}
		}
	}
	for _, s := range in.sets {
		for _, m := range allMethods() {
			res.rows = append(res.rows, row{s.name, m, ood.Evaluate(res.id[m], res.ood[s.name][m])})
		}
	}
	// The same kNN with the int8 bank the CLI stores by default.
	fd, err := ood.Fit(ood.MethodKNN, fit.features, ood.FitOptions{Storage: ood.StorageInt8, Seed: 1})
	if err != nil {
		return nil, err
	}
	res.knnInt8Bytes = fd.Bank.Bytes()
	idKNN, err := scoreAll(ood.MethodKNN, calib.Temperature, head, fd, id)
	if err != nil {
		return nil, err
	}
	for _, o := range sets {
		oodKNN, err := scoreAll(ood.MethodKNN, calib.Temperature, head, fd, o)
		if err != nil {
			return nil, err
		}
		res.knnInt8 += ood.Evaluate(idKNN, oodKNN).FPR95 / float64(len(sets))
	}
	return res, nil
}

// scoreAll scores every sample of o with method m, splitting the work over
// the CPUs with one scorer each (scorers keep per-call buffers).
func scoreAll(m ood.Method, T float64, head *ood.Head, fd *ood.FeatureData, o *outputs) ([]float64, error) {
	out := make([]float64, len(o.logits))
	workers := runtime.GOMAXPROCS(0)
	scorers := make([]ood.Scorer, workers)
	for w := range scorers {
		s, err := ood.NewScorer(m, T, head, fd)
		if err != nil {
			return nil, err
		}
		scorers[w] = s
	}
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < len(out); i += workers {
				v, err := scorers[w].Score(o.logits[i], o.features[i])
				if err != nil {
					errs[w] = err
					return
				}
				out[i] = v
			}
		}(w)
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

func writePlot(path string, r *modelResult, sets []oodSet, extra ood.Method) error {
	panel := func(title string, m ood.Method) plot.Panel {
		p := plot.Panel{Title: title + " (" + r.name + ")", ID: plot.Series{Name: "Fashion-MNIST", Values: r.id[m]}}
		for _, s := range sets {
			p.OOD = append(p.OOD, plot.Series{Name: s.name, Values: r.ood[s.name][m]})
		}
		return p
	}
	energy := panel("negative energy -E", ood.MethodEnergy)
	th := r.calib.Threshold
	energy.Threshold = &th
	panels := []plot.Panel{energy, panel("softmax score", ood.MethodMSP)}
	if extra != "" {
		panels = append(panels, panel(string(extra)+" score", extra))
	}
	return plot.WriteFile(path, panels)
}

func mean(rows []row, m ood.Method, pick func(ood.Result) float64) float64 {
	var sum float64
	n := 0
	for _, r := range rows {
		if r.method == m {
			sum += pick(r.r)
			n++
		}
	}
	return sum / float64(n)
}

func meanFPR(r *modelResult, m ood.Method) float64 {
	return mean(r.rows, m, func(x ood.Result) float64 { return x.FPR95 })
}

// bestFeatureMethod is the feature-space score with the lowest mean FPR95.
func bestFeatureMethod(r *modelResult) ood.Method {
	best := ood.FeatureMethods()[0]
	for _, m := range ood.FeatureMethods()[1:] {
		if meanFPR(r, m) < meanFPR(r, best) {
			best = m
		}
	}
	return best
}

func pct(v float64) string { return fmt.Sprintf("%.2f", 100*v) }

func writeReport(w io.Writer, results []*modelResult, sets []oodSet) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("# Evaluation: OOD detection on the demo models\n\n")
	p("Generated by `make evaluate` (`go run ./model/zoo/report`) on %s, %s/%s, with the project's own interpreter — the same code path as `ood-agent eval` and the agent. Do not edit by hand.\n\n",
		time.Now().UTC().Format("2006-01-02"), runtime.GOOS, runtime.GOARCH)
	p("## Set-up\n\n")
	p("- **Models** (`model/zoo/`, trained by `make demo-model`, all from the same pretrained weights): `fashion_mnist_cnn` (float32) and `_int8` (post-training int8); `fashion_mnist_cnn_energy` and `_energy_int8`, fine-tuned with the energy-bounded loss of Liu et al. §3 (λ = 0.1, margins from the pretrained model's mean energies) using patches of natural images (the even half of python3-skimage's sample images) as auxiliary outliers.\n")
	p("- **In-distribution (positive class):** Fashion-MNIST test set, 10,000 images.\n")
	p("- **Out-of-distribution:**\n")
	for _, s := range sets {
		p("  - *%s*: %s.\n", s.name, s.about)
	}
	p("- **Scores on the logits:** energy (reported as −E, T = 1), maximum softmax probability (msp), maximum logit (maxlogit).\n")
	p("- **Scores on the penultimate features** (the 128 ReLU outputs of `dense1`, found by `model.FindFeatures`; int8 models use the dequantized features and last layer), fitted on %s training images the models were trained on (every fifth of the first 55,000; never the test set):\n", "11,000")
	p("  - *react*: energy of the last layer recomputed on features clipped at the 90th percentile of the fitted activations (Sun et al., 2021).\n")
	p("  - *ash*: ASH-S — the 10%% largest activations of each sample kept, the rest zeroed, the kept ones scaled by exp(Σ all / Σ kept), then energy of the recomputed last layer (Djurisic et al., 2023).\n")
	p("  - *knn*: minus the distance of the L2-normalized features to their 5th nearest neighbour in a bank of 5,000 fitted feature vectors (Sun et al., 2022; k = 50 of 50,000 scaled to the bank), stored as float16 (%s bytes).\n", thousands(results[0].bankBytes[ood.MethodKNN]))
	p("  - *support*: the per-sample term of probabilistic precision (Park & Kim, 2023) over the same 5,000 bank vectors — soft balls of one common radius R (the bank's mean distance to the 5th nearest neighbour), membership p_j = max(0, 1 − d_j/R), score −Σ log(1 − p_j) (orders samples as the probability 1 − Π(1 − p_j) of lying in some ball); a sample in no ball scores its largest margin 1 − d_j/R ≤ 0.\n")
	p("- **Metrics** (the energy paper's conventions, ID positive): FPR at 95%% TPR (↓), AUROC (↑), AUPR-In (↑), AUPR-Out (↑), in percent, computed on the test sets.\n")
	p("- **Calibration:** each score's threshold keeps 95%% of the 5,000 held-out training images (never trained on, never the test set); the column *ID kept* checks it on the test set.\n\n")

	p("## Summary (mean over the %d OOD sets)\n\n", len(sets))
	p("| model | test accuracy | score | ID kept at calibrated threshold | FPR95 ↓ | AUROC ↑ | AUPR-In ↑ | AUPR-Out ↑ |\n|---|---|---|---|---|---|---|---|\n")
	for _, r := range results {
		for _, m := range allMethods() {
			p("| %s | %s | %s | %s | %s | %s | %s | %s |\n", r.name, pct(r.accuracy), m, pct(r.kept[m]),
				pct(meanFPR(r, m)),
				pct(mean(r.rows, m, func(x ood.Result) float64 { return x.AUROC })),
				pct(mean(r.rows, m, func(x ood.Result) float64 { return x.AUPRIn })),
				pct(mean(r.rows, m, func(x ood.Result) float64 { return x.AUPROut })))
		}
	}
	p("\n## The paper's claims, checked here\n\n")
	pre, fine := results[0], results[2]
	verdict := func(better bool) string {
		if better {
			return "holds here"
		}
		return "does **not** hold here"
	}
	p("1. *Energy beats the softmax score on a pretrained classifier* (paper, CIFAR-10 WideResNet: mean FPR95 51.04%% → 33.01%%). Here (float32, pretrained): MSP %s%% → energy %s%% — %s.\n",
		pct(meanFPR(pre, ood.MethodMSP)), pct(meanFPR(pre, ood.MethodEnergy)), verdict(meanFPR(pre, ood.MethodEnergy) < meanFPR(pre, ood.MethodMSP)))
	p("2. *Energy-bounded fine-tuning with auxiliary outliers cuts FPR95 further* (paper: → 3.32%%). Here: energy %s%% pretrained → %s%% fine-tuned — %s.\n",
		pct(meanFPR(pre, ood.MethodEnergy)), pct(meanFPR(fine, ood.MethodEnergy)), verdict(meanFPR(fine, ood.MethodEnergy) < meanFPR(pre, ood.MethodEnergy)))
	p("3. *Fine-tuning keeps classification accuracy*: %s%% pretrained vs %s%% fine-tuned (float32).\n",
		pct(pre.accuracy), pct(fine.accuracy))
	p("4. *int8 quantization*: mean energy FPR95 %s%% (float) vs %s%% (int8) pretrained, %s%% vs %s%% fine-tuned; accuracy %s%% vs %s%%.\n\n",
		pct(meanFPR(results[0], ood.MethodEnergy)), pct(meanFPR(results[1], ood.MethodEnergy)),
		pct(meanFPR(results[2], ood.MethodEnergy)), pct(meanFPR(results[3], ood.MethodEnergy)),
		pct(results[0].accuracy), pct(results[1].accuracy))
	p("The paper's absolute numbers come from a different scale (32×32 colour images, a 28-layer WideResNet, 80M Tiny Images as outliers); what carries over is the direction of each effect, which is what the lines above test.\n\n")

	p("## Feature-space scores, checked against the goal\n\n")
	best := bestFeatureMethod(pre)
	e, b := meanFPR(pre, ood.MethodEnergy), meanFPR(pre, best)
	rel := (e - b) / e
	p("- *Goal: on the pretrained model the best feature-space score lowers mean FPR95 by at least 25%% relative to energy.* Best: **%s**, %s%% vs energy %s%%, a relative reduction of %.1f%% — %s.\n",
		best, pct(b), pct(e), 100*rel, map[bool]string{true: "**met**", false: "**not met**"}[rel >= 0.25])
	for _, m := range ood.FeatureMethods() {
		p("- *%s*: mean FPR95 %s%% pretrained (energy %s%%), %s%% fine-tuned (energy %s%%).\n", m,
			pct(meanFPR(pre, m)), pct(e), pct(meanFPR(fine, m)), pct(meanFPR(fine, ood.MethodEnergy)))
	}
	p("- *knn bank storage*: with the int8 bank (7-bit values and one scale per vector, %s bytes) instead of float16 (%s bytes), knn's mean FPR95 is %s%% vs %s%% (pretrained), %s%% vs %s%% (fine-tuned).\n",
		thousands(pre.knnInt8Bytes), thousands(pre.bankBytes[ood.MethodKNN]), pct(pre.knnInt8), pct(meanFPR(pre, ood.MethodKNN)), pct(fine.knnInt8), pct(meanFPR(fine, ood.MethodKNN)))
	worst, where := int8Gap(results)
	p("- *int8 within 2 points of float on every figure*: over every score, OOD set and metric (FPR95, AUROC, AUPR-In, AUPR-Out, detection error) the largest gap between a float model and its int8 twin is %.2f points (%s) — %s; test accuracy differs by at most %.2f points.\n\n",
		100*worst, where, yes(worst <= 0.02), 100*accuracyGap(results))

	writeField(w, results, sets)
	p("## Per OOD set\n\n")
	for _, r := range results {
		p("### %s\n\n| OOD set | score | FPR95 ↓ | AUROC ↑ | AUPR-In ↑ | AUPR-Out ↑ | detection error ↓ |\n|---|---|---|---|---|---|---|\n", r.name)
		for _, x := range r.rows {
			p("| %s | %s | %s | %s | %s | %s | %s |\n", x.set, x.method, pct(x.r.FPR95), pct(x.r.AUROC), pct(x.r.AUPRIn), pct(x.r.AUPROut), pct(x.r.DetectionError))
		}
		p("\n")
	}
	p("## Score distributions\n\nID vs OOD histograms of −E, of the softmax score and of the best feature-space score on the pretrained model (%s), as in the energy paper's Figure 2 (vertical line: the calibrated energy threshold).\n\n", best)
	p("Pretrained (`fashion_mnist_cnn`):\n\n![pretrained](evaluation.png)\n\nEnergy fine-tuned (`fashion_mnist_cnn_energy`):\n\n![fine-tuned](evaluation_energy.png)\n")
}

// thousands formats n with comma separators.
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// int8Gap is the largest difference of any metric between a float model
// and its int8 twin (results alternate float, int8), and where it is.
func int8Gap(results []*modelResult) (float64, string) {
	worst, where := 0.0, ""
	for i := 0; i+1 < len(results); i += 2 {
		for _, a := range results[i].rows {
			for _, b := range results[i+1].rows {
				if b.set != a.set || b.method != a.method {
					continue
				}
				for _, m := range []struct {
					name string
					a, b float64
				}{
					{"FPR95", a.r.FPR95, b.r.FPR95}, {"AUROC", a.r.AUROC, b.r.AUROC}, {"AUPR-In", a.r.AUPRIn, b.r.AUPRIn},
					{"AUPR-Out", a.r.AUPROut, b.r.AUPROut}, {"detection error", a.r.DetectionError, b.r.DetectionError},
				} {
					if d := math.Abs(m.a - m.b); d > worst {
						worst, where = d, fmt.Sprintf("%s, %s, %s, %s", results[i].name, a.method, a.set, m.name)
					}
				}
			}
		}
	}
	return worst, where
}

// accuracyGap is the largest test accuracy difference between a float
// model and its int8 twin.
func accuracyGap(results []*modelResult) float64 {
	worst := 0.0
	for i := 0; i+1 < len(results); i += 2 {
		worst = max(worst, math.Abs(results[i].accuracy-results[i+1].accuracy))
	}
	return worst
}
