package plot

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"
	"strconv"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Panel geometry, in pixels. Panels are laid out side by side, so an image
// of n panels is n·PanelWidth wide and PanelHeight high.
const (
	PanelWidth  = 480
	PanelHeight = 360
)

// DefaultBins is the number of histogram bins of a Panel whose Bins is 0.
const DefaultBins = 40

// MaxOOD is the largest number of OOD series a Panel may have; each needs a
// colour of its own for the legend to be readable.
const MaxOOD = 6

// Series is a named set of scores.
type Series struct {
	// Name labels the series in the legend. Only ASCII renders.
	Name string
	// Values are the scores; they must be finite.
	Values []float64
}

// Panel is one histogram plot.
type Panel struct {
	// Title is drawn above the plot, e.g. "negative energy".
	Title string
	// ID is the in-distribution series.
	ID Series
	// OOD are the out-of-distribution series, at most MaxOOD.
	OOD []Series
	// Threshold, if set, is drawn as a dashed vertical line.
	Threshold *float64
	// Bins is the number of histogram bins; 0 means DefaultBins.
	Bins int
}

// seriesColor returns the colour of series i: the ID series first, then
// the OOD series in order. Bars are filled with it at fillAlpha over the
// background and outlined with it opaque.
func seriesColor(i int) color.RGBA {
	return [1 + MaxOOD]color.RGBA{
		{31, 119, 180, 255},  // blue
		{255, 127, 14, 255},  // orange
		{44, 160, 44, 255},   // green
		{214, 39, 40, 255},   // red
		{148, 103, 189, 255}, // purple
		{140, 86, 75, 255},   // brown
		{227, 119, 194, 255}, // pink
	}[i]
}

const fillAlpha = 0.4

func background() color.RGBA { return color.RGBA{255, 255, 255, 255} }
func foreground() color.RGBA { return color.RGBA{0, 0, 0, 255} }
func gridColor() color.RGBA  { return color.RGBA{225, 225, 225, 255} }

// Layout of a panel, relative to its top-left corner.
const (
	marginLeft   = 58
	marginRight  = 14
	marginBottom = 36
	titleBase    = 16 // baseline of the title
	legendTop    = 24
	legendRow    = 15
	swatchW      = 14
	swatchH      = 9
)

// fill returns the colour of a bar of c drawn over the background. It
// draws one pixel the way bars does, so swatches match the bars exactly.
func fill(c color.RGBA) color.RGBA {
	px := image.NewRGBA(image.Rect(0, 0, 1, 1))
	px.SetRGBA(0, 0, background())
	draw.Draw(px, px.Bounds(), translucent(c), image.Point{}, draw.Over)
	return px.RGBAAt(0, 0)
}

// translucent returns c at fillAlpha as a drawing source.
func translucent(c color.RGBA) *image.Uniform {
	return image.NewUniform(color.NRGBA{c.R, c.G, c.B, uint8(math.Round(fillAlpha * 255))})
}

// Histograms writes a PNG with one histogram panel per element of panels,
// side by side. Within a panel all series share the same bins, spanning the
// values and the threshold, and each is normalised to the fraction of its
// samples per bin so that sets of different sizes compare.
func Histograms(w io.Writer, panels []Panel) error {
	if len(panels) == 0 {
		return errors.New("plot: no panels")
	}
	for i, p := range panels {
		if err := p.validate(); err != nil {
			return fmt.Errorf("plot: panel %d (%q): %w", i, p.Title, err)
		}
	}
	img := image.NewRGBA(image.Rect(0, 0, len(panels)*PanelWidth, PanelHeight))
	draw.Draw(img, img.Bounds(), image.NewUniform(background()), image.Point{}, draw.Src)
	for i, p := range panels {
		p.draw(img, i*PanelWidth)
	}
	if err := png.Encode(w, img); err != nil {
		return fmt.Errorf("plot: encode png: %w", err)
	}
	return nil
}

func (p Panel) validate() error {
	if p.Bins < 0 {
		return fmt.Errorf("negative bin count %d", p.Bins)
	}
	if len(p.OOD) > MaxOOD {
		return fmt.Errorf("%d OOD series, at most %d", len(p.OOD), MaxOOD)
	}
	if p.Threshold != nil && !finite(*p.Threshold) {
		return fmt.Errorf("threshold %v is not finite", *p.Threshold)
	}
	if p.ID.Name == "" {
		p.ID.Name = "ID"
	}
	for _, s := range p.series() {
		if len(s.Values) == 0 {
			return fmt.Errorf("series %q has no values", s.Name)
		}
		for j, v := range s.Values {
			if !finite(v) {
				return fmt.Errorf("series %q value %d is %v", s.Name, j, v)
			}
		}
	}
	if _, _, ok := p.span(); !ok {
		return errors.New("value range too wide to plot")
	}
	return nil
}

// span returns the x range of the panel: the values and the threshold,
// widened if they are all equal. It reports false if the range cannot be
// mapped to pixels.
func (p Panel) span() (lo, hi float64, ok bool) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, s := range p.series() {
		for _, v := range s.Values {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	if p.Threshold != nil {
		lo, hi = min(lo, *p.Threshold), max(hi, *p.Threshold)
	}
	if lo == hi {
		d := max(0.5, math.Abs(lo)*1e-6)
		lo, hi = lo-d, hi+d
	}
	return lo, hi, hi > lo && finite(hi-lo)
}

// series returns the ID series followed by the OOD series.
func (p Panel) series() []Series {
	return append([]Series{p.ID}, p.OOD...)
}

// frame maps data coordinates to pixels within one panel.
type frame struct {
	left, right, top, bottom int // plot area in image pixels
	lo, hi                   float64
	ymax                     float64
}

func (f frame) x(v float64) int {
	return f.left + int(math.Round((v-f.lo)/(f.hi-f.lo)*float64(f.right-f.left)))
}

func (f frame) y(v float64) int {
	return f.bottom - int(math.Round(v/f.ymax*float64(f.bottom-f.top)))
}

func (p Panel) draw(img *image.RGBA, offset int) {
	series := p.series()
	bins := p.Bins
	if bins == 0 {
		bins = DefaultBins
	}

	lo, hi, _ := p.span() // checked by validate

	fractions := make([][]float64, len(series))
	peak := 0.0
	for i, s := range series {
		fractions[i] = histogram(s.Values, lo, hi, bins)
		for _, f := range fractions[i] {
			peak = max(peak, f)
		}
	}

	rows := p.legend(img, offset, series, false)
	fr := frame{
		left:   offset + marginLeft,
		right:  offset + PanelWidth - marginRight,
		top:    legendTop + rows*legendRow + 8,
		bottom: PanelHeight - marginBottom,
		lo:     lo,
		hi:     hi,
	}
	yticks := ticks(0, peak*1.05, 5)
	fr.ymax = max(peak*1.05, yticks[len(yticks)-1])
	xticks := ticks(lo, hi, 6)

	for _, t := range yticks {
		hline(img, fr.left, fr.right, fr.y(t), gridColor())
	}
	for i := range series {
		bars(img, fr, fractions[i], seriesColor(i))
	}
	for i := range series {
		outline(img, fr, fractions[i], seriesColor(i))
	}
	if p.Threshold != nil {
		x := fr.x(*p.Threshold)
		for y := fr.top; y < fr.bottom; y++ {
			if (y-fr.top)%8 < 5 {
				img.SetRGBA(x, y, foreground())
			}
		}
		label := "threshold"
		tx := x + 3
		if tx+textWidth(label) > fr.right {
			tx = x - 3 - textWidth(label)
		}
		text(img, tx, fr.top+12, label)
	}

	// Axes and tick labels.
	hline(img, fr.left, fr.right, fr.bottom, foreground())
	vline(img, fr.left, fr.top, fr.bottom, foreground())
	for _, t := range xticks {
		x := fr.x(t)
		vline(img, x, fr.bottom, fr.bottom+4, foreground())
		l := formatTick(t)
		text(img, x-textWidth(l)/2, fr.bottom+17, l)
	}
	for _, t := range yticks {
		y := fr.y(t)
		hline(img, fr.left-4, fr.left, y, foreground())
		l := formatTick(t)
		text(img, fr.left-7-textWidth(l), y+4, l)
	}
	text(img, offset+2, fr.top-2, "fraction")
	text(img, offset+(PanelWidth-textWidth(p.Title))/2, titleBase, p.Title)
	p.legend(img, offset, series, true)
}

// legend lays out one entry per series in rows under the title, drawing
// them if paint is set, and returns the number of rows used.
func (p Panel) legend(img *image.RGBA, offset int, series []Series, paint bool) int {
	x, row := offset+marginLeft, 0
	for i, s := range series {
		name := s.Name
		if i == 0 && name == "" {
			name = "ID"
		}
		if name == "" {
			name = fmt.Sprintf("OOD %d", i)
		}
		width := swatchW + 4 + textWidth(name) + 14
		if x+width > offset+PanelWidth-marginRight && x > offset+marginLeft {
			x, row = offset+marginLeft, row+1
		}
		if paint {
			y := legendTop + row*legendRow
			r := image.Rect(x, y+2, x+swatchW, y+2+swatchH)
			draw.Draw(img, r, image.NewUniform(fill(seriesColor(i))), image.Point{}, draw.Src)
			box(img, r, seriesColor(i))
			text(img, x+swatchW+4, y+11, name)
		}
		x += width
	}
	return row + 1
}

// histogram returns the fraction of values in each of bins equal-width
// bins over [lo, hi], the last bin closed.
func histogram(values []float64, lo, hi float64, bins int) []float64 {
	f := make([]float64, bins)
	for _, v := range values {
		i := int((v - lo) / (hi - lo) * float64(bins))
		f[min(max(i, 0), bins-1)]++
	}
	for i := range f {
		f[i] /= float64(len(values))
	}
	return f
}

func binEdge(fr frame, i, bins int) int {
	return fr.x(fr.lo + (fr.hi-fr.lo)*float64(i)/float64(bins))
}

// bars fills each non-empty bin with c at fillAlpha over what is already
// drawn, so overlapping series stay visible.
func bars(img *image.RGBA, fr frame, fractions []float64, c color.RGBA) {
	src := translucent(c)
	for i, f := range fractions {
		if f == 0 {
			continue
		}
		r := image.Rect(binEdge(fr, i, len(fractions)), fr.y(f), binEdge(fr, i+1, len(fractions)), fr.bottom)
		draw.Draw(img, r, src, image.Point{}, draw.Over)
	}
}

// outline draws the step outline of a histogram in opaque c.
func outline(img *image.RGBA, fr frame, fractions []float64, c color.RGBA) {
	n := len(fractions)
	height := func(i int) int { // pixel row of bin i, the baseline outside
		if i < 0 || i >= n || fractions[i] == 0 {
			return fr.bottom
		}
		return fr.y(fractions[i])
	}
	for i := 0; i <= n; i++ {
		x := binEdge(fr, i, n)
		a, b := height(i-1), height(i)
		if a != b {
			vline(img, x, min(a, b), max(a, b), c)
		}
		if i < n && fractions[i] != 0 {
			hline(img, x, binEdge(fr, i+1, n), height(i), c)
		}
	}
}

// ticks returns about n round values within [lo, hi], multiples of a step
// of 1, 2 or 5 times a power of ten.
func ticks(lo, hi float64, n int) []float64 {
	if !(hi > lo) {
		return []float64{lo}
	}
	// Of the steps 1, 2 and 5 times a power of ten, take the one giving
	// the tick count closest to n.
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{2, 5, 10} {
		if math.Abs((hi-lo)/(m*mag)-float64(n)) < math.Abs((hi-lo)/step-float64(n)) {
			step = m * mag
		}
	}
	// Near float64's precision limit a step can be below the spacing of
	// representable values; the cap bounds the loop and ticks that round
	// onto the previous one are dropped.
	var t []float64
	start := math.Ceil(lo/step) * step
	for i := 0; i <= 2*n+2; i++ {
		v := start + float64(i)*step
		if v > hi+step*1e-9 {
			break
		}
		if len(t) == 0 || v > t[len(t)-1] {
			t = append(t, v)
		}
	}
	if len(t) == 0 {
		t = append(t, lo)
	}
	return t
}

func formatTick(v float64) string {
	if math.Abs(v) < 1e-12 {
		v = 0 // also turns −0 into 0
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

func textWidth(s string) int {
	return font.MeasureString(basicfont.Face7x13, s).Ceil()
}

// text draws s with its baseline starting at (x, y).
func text(img *image.RGBA, x, y int, s string) {
	d := font.Drawer{
		Dst:  img,
		Src:  image.NewUniform(foreground()),
		Face: basicfont.Face7x13,
		Dot:  fixed.P(x, y),
	}
	d.DrawString(s)
}

func hline(img *image.RGBA, x0, x1, y int, c color.RGBA) {
	b := img.Bounds()
	for x := max(x0, b.Min.X); x <= min(x1, b.Max.X-1); x++ {
		img.SetRGBA(x, y, c)
	}
}

func vline(img *image.RGBA, x, y0, y1 int, c color.RGBA) {
	b := img.Bounds()
	for y := max(y0, b.Min.Y); y <= min(y1, b.Max.Y-1); y++ {
		img.SetRGBA(x, y, c)
	}
}

func box(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	hline(img, r.Min.X, r.Max.X-1, r.Min.Y, c)
	hline(img, r.Min.X, r.Max.X-1, r.Max.Y-1, c)
	vline(img, r.Min.X, r.Min.Y, r.Max.Y-1, c)
	vline(img, r.Max.X-1, r.Min.Y, r.Max.Y-1, c)
}

func finite(v float64) bool {
	return !math.IsNaN(v) && !math.IsInf(v, 0)
}
