package ood

import (
	"fmt"
	"math"

	"github.com/ood-agent/ood-agent/internal/vec"
)

// Head is a classifier's last layer as real numbers: logits = act(W·f + B),
// with W row-major [Classes][Dim]. Scores that change the features (ReAct,
// ASH) recompute the logits with it.
type Head struct {
	W       []float32
	B       []float32
	Classes int
	Dim     int
	// Lo and Hi clamp the output (the fused activation); ±Inf without one.
	Lo, Hi float32
	// Dots are the products that Logits and the scorers built with this
	// head run on every frame; the zero value computes them in portable
	// Go, model/detect sets the interpreter's SIMD kernels.
	Dots RowDots
}

// RowDots computes the dot products of a vector q with every row of a
// row-major matrix m into dst, one value per row (m holds len(dst) rows
// of len(q) values): the matrix–vector products of a last layer and of a
// feature bank. A nil function means portable Go.
type RowDots struct {
	Float func(dst, q, m []float32)
	// Int8 must be exact: Σ of int32 products.
	Int8 func(dst []int32, q, m []int8)
	// Half multiplies by a matrix of IEEE half-precision values (their
	// bits), each converted exactly to float32.
	Half func(dst, q []float32, m []uint16)
}

// NewHead checks the shapes of a last layer. bias may be nil.
func NewHead(w, bias []float32, classes, dim int, lo, hi float32) (*Head, error) {
	if classes < 1 || dim < 1 || len(w) != classes*dim {
		return nil, fmt.Errorf("ood: head weights have %d values, want %d×%d", len(w), classes, dim)
	}
	if bias != nil && len(bias) != classes {
		return nil, fmt.Errorf("ood: head bias has %d values, want %d", len(bias), classes)
	}
	if bias == nil {
		bias = make([]float32, classes)
	}
	return &Head{W: w, B: bias, Classes: classes, Dim: dim, Lo: lo, Hi: hi}, nil
}

// Unbounded is the (Lo, Hi) pair of a head without activation.
func Unbounded() (lo, hi float32) { return float32(math.Inf(-1)), float32(math.Inf(1)) }

// Logits writes act(W·f + B) into dst, which must hold Classes values.
func (h *Head) Logits(dst, f []float32) {
	dst = dst[:h.Classes]
	if h.Dots.Float != nil {
		h.Dots.Float(dst, f[:h.Dim], h.W)
	} else {
		for c := range dst {
			dst[c] = vec.Dot(f[:h.Dim], h.W[c*h.Dim:(c+1)*h.Dim])
		}
	}
	for c, s := range dst {
		dst[c] = min(max(s+h.B[c], h.Lo), h.Hi)
	}
}
