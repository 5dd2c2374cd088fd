package kernels

import (
	"math"

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
	// gates holds the pre-activations, then activations, of one step,
	// laid out [gate][batch][cell].
	gates  []float32
	hidden []float32
	// x and h are the current step's input and previous output state.
	x, h []float32
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

	input := n.Inputs[lstmInInput].F32()
	output := n.Outputs[0].F32()
	state := n.Inputs[lstmInOutputState].F32()
	cell := n.Inputs[lstmInCellState].F32()
	k.forEachStep(func(batches, in, out, b int) {
		f.x = input[in : in+batches*k.nInput]
		f.h = state[b*k.nOutput : (b+batches)*k.nOutput]
		k.stepBatches = batches
		k.runRows(ctx)
		k.floatStep(batches, cell[b*k.nCell:(b+batches)*k.nCell], output[out:out+batches*k.nOutput])
	})
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
			acc += lstmDotF32(win, f.x[b*nIn:(b+1)*nIn])
			acc += lstmDotF32(wrec, f.h[b*nOut:(b+1)*nOut])
			f.gates[(g*k.batch+b)*nCell+i] = acc
		}
	}
}

// floatStep finishes one step from the gate pre-activations: peepholes,
// layer norm, activations, the cell update and the output state.
func (k *lstmKernel) floatStep(batches int, cell, out []float32) {
	f := &k.f
	nCell, nOut := k.nCell, k.nOutput
	gate := func(g, b int) []float32 {
		o := (g*k.batch + b) * nCell
		return f.gates[o : o+nCell]
	}
	for b := range batches {
		c := cell[b*nCell : (b+1)*nCell]
		if !k.cifg {
			k.finishGateF32(lstmGateInput, gate(lstmGateInput, b), c)
		}
		k.finishGateF32(lstmGateForget, gate(lstmGateForget, b), c)
		k.finishGateF32(lstmGateCell, gate(lstmGateCell, b), nil)

		fg, cg, ig := gate(lstmGateForget, b), gate(lstmGateCell, b), gate(lstmGateInput, b)
		clip := k.opts.CellClip
		for j := range c {
			in := float32(0)
			if k.cifg {
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

		og := gate(lstmGateOutput, b)
		k.finishGateF32(lstmGateOutput, og, c)
		hidden := f.hidden[b*nCell : (b+1)*nCell]
		for j := range hidden {
			hidden[j] = og[j] * lstmActivateF32(k.opts.Activation, c[j])
		}
	}

	h := f.h
	if k.project {
		for b := range batches {
			hidden := f.hidden[b*nCell : (b+1)*nCell]
			for o := range nOut {
				var acc float32
				if f.projBias != nil {
					acc = f.projBias[o]
				}
				acc += lstmDotF32(f.proj[o*nCell:(o+1)*nCell], hidden)
				if clip := k.opts.ProjClip; clip > 0 {
					acc = ClampF32(acc, -clip, clip)
				}
				h[b*nOut+o] = acc
			}
		}
	} else {
		copy(h, f.hidden[:batches*nCell])
	}
	copy(out, h)
}

// finishGateF32 applies a gate's peephole, layer norm and activation in
// place. cell is the cell state the peephole reads (nil for the cell gate).
func (k *lstmKernel) finishGateF32(g int, v, cell []float32) {
	f := &k.f
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
			v[j] = lstmActivateF32(k.opts.Activation, v[j])
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

// lstmDotF32 returns the dot product of a and b (len(b) >= len(a)).
func lstmDotF32(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}
