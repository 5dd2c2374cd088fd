package plot

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func normal(rng *rand.Rand, n int, mean, std float64) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = mean + std*rng.NormFloat64()
	}
	return s
}

func render(t *testing.T, panels []Panel) image.Image {
	t.Helper()
	var buf bytes.Buffer
	if err := Histograms(&buf, panels); err != nil {
		t.Fatalf("Histograms error: %v", err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatalf("decode PNG: %v", err)
	}
	if dir := os.Getenv("OOD_PLOT_DIR"); dir != "" {
		// Lets a developer look at the figure.
		var out bytes.Buffer
		if err := png.Encode(&out, img); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+".png"), out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return img
}

func same(c color.Color, want color.RGBA) bool {
	r, g, b, a := c.RGBA()
	wr, wg, wb, wa := want.RGBA()
	return r == wr && g == wg && b == wb && a == wa
}

// columns returns, for each x, how many pixels of that column equal want.
func columns(img image.Image, want color.RGBA, r image.Rectangle) map[int]int {
	cols := map[int]int{}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if same(img.At(x, y), want) {
				cols[x]++
			}
		}
	}
	return cols
}

func count(cols map[int]int) int {
	n := 0
	for _, c := range cols {
		n += c
	}
	return n
}

func meanX(cols map[int]int) float64 {
	var sum, n float64
	for x, c := range cols {
		sum += float64(x * c)
		n += float64(c)
	}
	return sum / n
}

func TestHistograms(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tau := 7.5
	panels := []Panel{
		{
			Title:     "negative energy",
			ID:        Series{Name: "CIFAR-10", Values: normal(rng, 2000, 10, 1)},
			OOD:       []Series{{Name: "SVHN", Values: normal(rng, 1500, 4, 1)}, {Name: "Textures", Values: normal(rng, 800, 6, 0.5)}},
			Threshold: &tau,
		},
		{
			Title: "softmax score",
			ID:    Series{Name: "CIFAR-10", Values: normal(rng, 2000, 0.9, 0.02)},
			OOD:   []Series{{Name: "SVHN", Values: normal(rng, 1500, 0.7, 0.05)}},
			Bins:  25,
		},
	}
	img := render(t, panels)
	if got, want := img.Bounds().Size(), image.Pt(2*PanelWidth, PanelHeight); got != want {
		t.Fatalf("image size = %v, want %v", got, want)
	}

	for pi, p := range panels {
		area := image.Rect(pi*PanelWidth, 0, (pi+1)*PanelWidth, PanelHeight)
		var fillX []float64
		for si := range 1 + len(p.OOD) {
			c := seriesColor(si)
			// Opaque outlines and legend borders.
			if n := count(columns(img, c, area)); n < 30 {
				t.Errorf("panel %d series %d: %d pixels of colour %v, want at least 30", pi, si, n, c)
			}
			// The translucent bar fill, where this series does not
			// overlap another.
			f := columns(img, fill(c), area)
			if n := count(f); n < 200 {
				t.Errorf("panel %d series %d: %d pixels of fill %v, want at least 200", pi, si, n, fill(c))
			}
			fillX = append(fillX, meanX(f))
		}
		// The ID scores are the highest in both panels, so the ID bars
		// must lie right of the OOD bars.
		for si := 1; si < len(fillX); si++ {
			if fillX[0] <= fillX[si] {
				t.Errorf("panel %d: ID fill centred at x=%.0f, not right of series %d at x=%.0f", pi, fillX[0], si, fillX[si])
			}
		}
	}

	// The threshold column of panel 0 is a dashed black line; panel 1 has
	// none with that many black pixels in one column.
	black := color.RGBA{0, 0, 0, 255}
	plotArea := func(pi int) image.Rectangle {
		return image.Rect(pi*PanelWidth+marginLeft+2, legendTop+3*legendRow, (pi+1)*PanelWidth-marginRight, PanelHeight-marginBottom-1)
	}
	longest := func(cols map[int]int) int {
		m := 0
		for _, c := range cols {
			m = max(m, c)
		}
		return m
	}
	if m := longest(columns(img, black, plotArea(0))); m < 100 {
		t.Errorf("panel 0: longest black column has %d pixels, want a threshold line of at least 100", m)
	}
	if m := longest(columns(img, black, plotArea(1))); m >= 100 {
		t.Errorf("panel 1: black column of %d pixels without a threshold", m)
	}
}

func TestHistogramsSinglePanelEdgeCases(t *testing.T) {
	zero := 0.0
	tests := []struct {
		name  string
		panel Panel
	}{
		{"constant values", Panel{Title: "constant", ID: Series{Values: []float64{3, 3, 3}}, OOD: []Series{{Name: "o", Values: []float64{3}}}}},
		{"no OOD", Panel{Title: "id only", ID: Series{Name: "id", Values: []float64{1, 2, 3}}}},
		{"threshold outside values", Panel{ID: Series{Values: []float64{5, 6}}, Threshold: &zero}},
		{"huge magnitude", Panel{ID: Series{Values: []float64{1e17, 1e17 + 64}}}},
		{"all OOD colours", Panel{ID: Series{Values: []float64{1}}, OOD: []Series{
			{Values: []float64{1}}, {Values: []float64{2}}, {Values: []float64{3}},
			{Values: []float64{4}}, {Values: []float64{5}}, {Values: []float64{6}},
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := render(t, []Panel{tt.panel})
			if got, want := img.Bounds().Size(), image.Pt(PanelWidth, PanelHeight); got != want {
				t.Errorf("image size = %v, want %v", got, want)
			}
			if n := count(columns(img, seriesColor(0), img.Bounds())); n == 0 {
				t.Errorf("no pixel of the ID colour")
			}
		})
	}
}

func TestHistogramsErrors(t *testing.T) {
	nan := math.NaN()
	ok := Series{Name: "ok", Values: []float64{1, 2}}
	tests := []struct {
		name   string
		panels []Panel
		want   string
	}{
		{"no panels", nil, "no panels"},
		{"empty ID", []Panel{{ID: Series{Name: "id"}}}, "no values"},
		{"empty OOD", []Panel{{ID: ok, OOD: []Series{{Name: "svhn"}}}}, "no values"},
		{"nan value", []Panel{{ID: Series{Values: []float64{1, math.NaN()}}}}, "NaN"},
		{"inf value", []Panel{{ID: ok, OOD: []Series{{Values: []float64{math.Inf(1)}}}}}, "Inf"},
		{"nan threshold", []Panel{{ID: ok, Threshold: &nan}}, "threshold"},
		{"negative bins", []Panel{{ID: ok, Bins: -1}}, "bin"},
		{"too many OOD", []Panel{{ID: ok, OOD: make([]Series, MaxOOD+1)}}, "OOD series"},
		{"range overflow", []Panel{{ID: Series{Values: []float64{-math.MaxFloat64, math.MaxFloat64}}}}, "range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := Histograms(&buf, tt.panels)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Histograms error = %v, want one mentioning %q", err, tt.want)
			}
			if buf.Len() != 0 {
				t.Errorf("Histograms wrote %d bytes despite the error", buf.Len())
			}
		})
	}
}

func TestTicks(t *testing.T) {
	tests := []struct {
		lo, hi float64
		n      int
	}{
		{0, 1, 5},
		{-13.7, 2.2, 6},
		{0.8, 0.95, 6},
		{1e17, 1e17 + 64, 6},
		{-1e-9, 1e-9, 4},
	}
	for _, tt := range tests {
		got := ticks(tt.lo, tt.hi, tt.n)
		if len(got) == 0 || len(got) > 2*tt.n+3 {
			t.Errorf("ticks(%v, %v, %d) = %v, want 1 to %d ticks", tt.lo, tt.hi, tt.n, got, 2*tt.n+3)
			continue
		}
		for i, v := range got {
			if v < tt.lo-1e-9*math.Abs(tt.lo) || v > tt.hi+1e-9*math.Abs(tt.hi)+1e-18 {
				t.Errorf("ticks(%v, %v, %d)[%d] = %v outside the range", tt.lo, tt.hi, tt.n, i, v)
			}
			if i > 0 && !(v > got[i-1]) {
				t.Errorf("ticks(%v, %v, %d) = %v not increasing", tt.lo, tt.hi, tt.n, got)
			}
		}
	}
}
