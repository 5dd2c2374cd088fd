package web

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strings"
	"time"
)

// The charts are inline SVG drawn on the server: no script, no library,
// and they scale with the page (viewBox, width 100%). Colours come from
// the CSS classes in style.css.

// sparkline draws counts as bars, oldest first.
func sparkline(counts []int) template.HTML {
	const w, h = 96, 20
	peak := 0
	for _, c := range counts {
		peak = max(peak, c)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="spark" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="alerts per hour, last %d hours">`, w, h, w, h, len(counts))
	if n := len(counts); n > 0 && peak > 0 {
		bw := float64(w) / float64(n)
		for i, c := range counts {
			if c == 0 {
				continue
			}
			bh := math.Max(1, float64(h-1)*float64(c)/float64(peak))
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%d</title></rect>`, float64(i)*bw+0.5, float64(h)-bh, bw-1, bh, c)
		}
	} else {
		fmt.Fprintf(&b, `<line class="zero" x1="0" y1="%d" x2="%d" y2="%d"/>`, h-1, w, h-1)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

type point struct {
	X time.Time
	Y float64
}

type series struct {
	Name  string
	Class string
	Dots  bool // points instead of a line
	Pts   []point
}

// hband is a horizontal band, e.g. the calibration's 5–95 % energies.
type hband struct {
	Lo, Hi float64
	Class  string
	Name   string
}

// hline is a horizontal reference line, e.g. the threshold.
type hline struct {
	Y     float64
	Class string
	Name  string
}

type chart struct {
	Title  string
	Series []series
	Bands  []hband
	Lines  []hline
	// Format formats the y-axis labels; nil means %.3g.
	Format func(float64) string
}

// svg renders c, or a note when it has no points.
func (c chart) svg() template.HTML {
	const w, h, left, right, top, bottom = 600, 180, 48, 8, 8, 20
	var x0, x1 time.Time
	y0, y1 := math.Inf(1), math.Inf(-1)
	n := 0
	for _, s := range c.Series {
		for _, p := range s.Pts {
			if n == 0 || p.X.Before(x0) {
				x0 = p.X
			}
			if n == 0 || p.X.After(x1) {
				x1 = p.X
			}
			y0, y1 = math.Min(y0, p.Y), math.Max(y1, p.Y)
			n++
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<figure class="chart"><figcaption>%s</figcaption>`, html.EscapeString(c.Title))
	if n == 0 {
		b.WriteString(`<p class="muted">no data yet</p></figure>`)
		return template.HTML(b.String())
	}
	for _, band := range c.Bands {
		y0, y1 = math.Min(y0, band.Lo), math.Max(y1, band.Hi)
	}
	for _, l := range c.Lines {
		y0, y1 = math.Min(y0, l.Y), math.Max(y1, l.Y)
	}
	if y1 == y0 {
		y0, y1 = y0-1, y1+1
	}
	pad := (y1 - y0) * 0.08
	y0, y1 = y0-pad, y1+pad
	span := x1.Sub(x0).Seconds()
	if span == 0 {
		span = 1
	}
	px := func(t time.Time) float64 { return left + (w-left-right)*t.Sub(x0).Seconds()/span }
	py := func(v float64) float64 { return top + (h-top-bottom)*(y1-v)/(y1-y0) }
	format := c.Format
	if format == nil {
		format = func(v float64) string { return fmt.Sprintf("%.3g", v) }
	}

	fmt.Fprintf(&b, `<svg viewBox="0 0 %d %d" preserveAspectRatio="none" role="img" aria-label="%s">`, w, h, html.EscapeString(c.Title))
	fmt.Fprintf(&b, `<rect class="plot" x="%d" y="%d" width="%d" height="%d"/>`, left, top, w-left-right, h-top-bottom)
	for _, band := range c.Bands {
		fmt.Fprintf(&b, `<rect class="%s" x="%d" y="%.1f" width="%d" height="%.1f"><title>%s</title></rect>`,
			band.Class, left, py(band.Hi), w-left-right, py(band.Lo)-py(band.Hi), html.EscapeString(band.Name))
	}
	for _, l := range c.Lines {
		fmt.Fprintf(&b, `<line class="%s" x1="%d" x2="%d" y1="%.1f" y2="%.1f"><title>%s %s</title></line>`,
			l.Class, left, w-right, py(l.Y), py(l.Y), html.EscapeString(l.Name), format(l.Y))
	}
	for _, s := range c.Series {
		if s.Dots {
			for _, p := range s.Pts {
				fmt.Fprintf(&b, `<circle class="%s" cx="%.1f" cy="%.1f" r="3"><title>%s %s</title></circle>`,
					s.Class, px(p.X), py(p.Y), p.X.Format("15:04:05"), format(p.Y))
			}
			continue
		}
		fmt.Fprintf(&b, `<polyline class="%s" points="`, s.Class)
		for _, p := range s.Pts {
			fmt.Fprintf(&b, "%.1f,%.1f ", px(p.X), py(p.Y))
		}
		fmt.Fprintf(&b, `"><title>%s</title></polyline>`, html.EscapeString(s.Name))
	}
	fmt.Fprintf(&b, `<text class="axis" x="%d" y="%d" text-anchor="end">%s</text>`, left-4, top+10, html.EscapeString(format(y1)))
	fmt.Fprintf(&b, `<text class="axis" x="%d" y="%d" text-anchor="end">%s</text>`, left-4, h-bottom, html.EscapeString(format(y0)))
	fmt.Fprintf(&b, `<text class="axis" x="%d" y="%d">%s</text>`, left, h-4, x0.Format("Jan 2 15:04"))
	fmt.Fprintf(&b, `<text class="axis" x="%d" y="%d" text-anchor="end">%s UTC</text>`, w-right, h-4, x1.Format("Jan 2 15:04"))
	b.WriteString(`</svg><div class="legend">`)
	for _, s := range c.Series {
		fmt.Fprintf(&b, `<span class="key %s">%s</span>`, s.Class, html.EscapeString(s.Name))
	}
	for _, band := range c.Bands {
		fmt.Fprintf(&b, `<span class="key %s">%s</span>`, band.Class, html.EscapeString(band.Name))
	}
	for _, l := range c.Lines {
		fmt.Fprintf(&b, `<span class="key %s">%s</span>`, l.Class, html.EscapeString(l.Name))
	}
	b.WriteString(`</div></figure>`)
	return template.HTML(b.String())
}
