package kernels

import (
	"math"

	"github.com/ood-agent/ood-agent/internal/vec"
	"github.com/ood-agent/ood-agent/model"
)

// lstmFloatState holds the float LSTM's operands and scratch. Weight slices
// are re-read from their tensors at every Eval, so weights fed as graph
// inputs work too.
type lstmFloatState struct {
	win, wrec [lstmGates][]float32
	bias      [lstmGates][]float32
	peep      [lstmGates][]float32
	ln        [lstmGates][]float32
	proj      []float32
	projBias  []float32

	act                model.Activation // of the cell gate and the output
	cellClip, projClip float32          // 0 for none

	lstmBuffers[float32, float32]
}

func (k *lstmKernel) prepareFloat(n *Node) error {
	for i, t := range n.Inputs {
		if t != nil && t.Type != model.Float32 {
			return unsupportedf("input %d: float LSTM wants float32, got %s", i, t.Type)
		}
	}
	switch k.opts.Activation {
	case model.ActNone, model.ActRelu, model.ActRelu6, model.ActReluN1To1, model.ActTanh:
	default:
		return unsupportedf("activation %s", k.opts.Activation)
	}
	k.f.act, k.f.cellClip, k.f.projClip = k.opts.Activation, k.opts.CellClip, k.opts.ProjClip
	k.f.gates = make([]float32, lstmGates*k.batch*k.nCell)
	k.f.hidden = make([]float32, k.batch*k.nCell)
	return nil
}

func (k *lstmKernel) evalFloat(ctx *Context, n *Node) {
	f := &k.f
	for g := range lstmGates {
		f.win[g] = lstmF32(n.Input(lstmInInputWeights + g))
		f.wrec[g] = lstmF32(n.Input(lstmInRecurrent + g))
		f.bias[g] = lstmF32(n.Input(lstmInBias + g))
		f.ln[g] = lstmF32(n.Input(lstmInLayerNorm + g))
		if p := lstmPeepholeIndex(g); p >= 0 {
			f.peep[g] = lstmF32(n.Input(p))
		}
	}
	f.proj = lstmF32(n.Input(lstmInProjWeights))
	f.projBias = lstmF32(n.Input(lstmInProjBias))

	lstmSequence(ctx, k, f, &f.lstmBuffers, n.Inputs[lstmInInput].F32(), n.Outputs[0].F32(),
		n.Inputs[lstmInOutputState].F32(), n.Inputs[lstmInCellState].F32())
}

// lstmF32 views an optional tensor as float32 values.
func lstmF32(t *Tensor) []float32 {
	if t == nil {
		return nil
	}
	return t.F32()
}

// floatRows computes bias + W·x + R·h for gate rows [lo, hi) (counted from
// the first computed row) of every batch in the step.
func (k *lstmKernel) floatRows(lo, hi int) {
	f := &k.f
	nIn, nOut, nCell := k.nInput, k.nOutput, k.nCell
	for r := lo + k.firstRow; r < hi+k.firstRow; r++ {
		g, i := r/nCell, r%nCell
		win := f.win[g][i*nIn : (i+1)*nIn]
		wrec := f.wrec[g][i*nOut : (i+1)*nOut]
		for b := range k.stepBatches {
			var acc float32
			if f.ln[g] == nil {
				acc = f.bias[g][i]
			}
			acc += vec.Dot(win, f.x[b*nIn:(b+1)*nIn])
			acc += vec.Dot(wrec, f.h[b*nOut:(b+1)*nOut])
			f.gates[(g*k.batch+b)*nCell+i] = acc
		}
	}
}

func (f *lstmFloatState) updateCell(c, fg, cg, ig []float32) {
	clip := f.cellClip
	for j := range c {
		in := float32(0)
		if ig == nil {
			in = 1 - fg[j]
		} else {
			in = ig[j]
		}
		v := float32(fg[j]*c[j]) + float32(cg[j]*in)
		if clip > 0 {
			v = ClampF32(v, -clip, clip)
		}
		c[j] = v
	}
}

func (f *lstmFloatState) hide(hidden, og, c []float32) {
	for j := range hidden {
		hidden[j] = og[j] * lstmActivateF32(f.act, c[j])
	}
}

func (f *lstmFloatState) project(h, hidden []float32) {
	nCell := len(hidden)
	for o := range h {
		var acc float32
		if f.projBias != nil {
			acc = f.projBias[o]
		}
		acc += vec.Dot(f.proj[o*nCell:(o+1)*nCell], hidden)
		if clip := f.projClip; clip > 0 {
			acc = ClampF32(acc, -clip, clip)
		}
		h[o] = acc
	}
}

func (f *lstmFloatState) finishGate(g int, v, cell []float32) {
	if p := f.peep[g]; p != nil && cell != nil {
		for j := range v {
			v[j] += p[j] * cell[j]
		}
	}
	if ln := f.ln[g]; ln != nil {
		var sum float32
		for _, x := range v {
			sum += x
		}
		mean := sum / float32(len(v))
		var sq float32
		for _, x := range v {
			d := x - mean
			sq += d * d
		}
		inv := float32(1 / math.Sqrt(float64(sq/float32(len(v))+1e-8)))
		bias := f.bias[g]
		for j := range v {
			v[j] = (v[j]-mean)*inv*ln[j] + bias[j]
		}
	}
	if g == lstmGateCell {
		for j := range v {
			v[j] = lstmActivateF32(f.act, v[j])
		}
		return
	}
	for j := range v {
		v[j] = float32(1 / (1 + math.Exp(-float64(v[j]))))
	}
}

// lstmActivateF32 applies the LSTM's cell and output activation.
func lstmActivateF32(a model.Activation, x float32) float32 {
	switch a {
	case model.ActTanh:
		return float32(math.Tanh(float64(x)))
	case model.ActRelu:
		return max(x, 0)
	case model.ActRelu6:
		return ClampF32(x, 0, 6)
	case model.ActReluN1To1:
		return ClampF32(x, -1, 1)
	}
	return x
}
