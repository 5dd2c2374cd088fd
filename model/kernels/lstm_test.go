package kernels

import (
	"errors"
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/ood-agent/ood-agent/model"
)

// lstmSpec describes a random LSTM for the tests.
type lstmSpec struct {
	batch, steps, nInput, nCell, nOutput int
	timeMajor, cifg, peephole, project   bool
	layerNorm                            bool
	cellClip, projClip                   float32
	act                                  model.Activation
	seed                                 int64
}

func (s lstmSpec) String() string {
	return fmt.Sprintf("b%d_t%d_in%d_cell%d_out%d_tm%v_cifg%v_peep%v_proj%v_ln%v_clip%g/%g_%s",
		s.batch, s.steps, s.nInput, s.nCell, s.nOutput, s.timeMajor, s.cifg, s.peephole,
		s.project, s.layerNorm, s.cellClip, s.projClip, s.act)
}

// lstmParams holds real-valued LSTM parameters, indexed like the node's
// inputs (nil for omitted ones).
type lstmParams struct {
	spec   lstmSpec
	values [lstmNumInputs][]float64
	input  []float64 // in the input tensor's layout
}

func lstmRandomParams(s lstmSpec) *lstmParams {
	rng := rand.New(rand.NewSource(s.seed))
	p := &lstmParams{spec: s}
	fill := func(i, n int, scale float64) {
		v := make([]float64, n)
		for j := range v {
			v[j] = (rng.Float64()*2 - 1) * scale
		}
		p.values[i] = v
	}
	for g := range lstmGates {
		if g == lstmGateInput && s.cifg {
			continue
		}
		// Keep pre-activations inside Q3.12's ±8 so that the integer
		// kernel's saturation does not show in comparisons.
		fill(lstmInInputWeights+g, s.nCell*s.nInput, min(0.6, 2/math.Sqrt(float64(s.nInput))))
		fill(lstmInRecurrent+g, s.nCell*s.nOutput, min(0.6, 2/math.Sqrt(float64(s.nOutput))))
		fill(lstmInBias+g, s.nCell, 0.5)
		if s.peephole && g != lstmGateCell {
			fill(lstmPeepholeIndex(g), s.nCell, 0.4)
		}
		if s.layerNorm {
			fill(lstmInLayerNorm+g, s.nCell, 1)
			for j := range p.values[lstmInLayerNorm+g] {
				p.values[lstmInLayerNorm+g][j] = 0.5 + math.Abs(p.values[lstmInLayerNorm+g][j])
			}
		}
	}
	if s.project {
		fill(lstmInProjWeights, s.nOutput*s.nCell, 0.5)
		fill(lstmInProjBias, s.nOutput, 0.2)
	}
	p.input = make([]float64, s.batch*s.steps*s.nInput)
	for j := range p.input {
		p.input[j] = rng.Float64()*2 - 1
	}
	return p
}

// reference computes the LSTM in float64, straight from the equations.
func (p *lstmParams) reference() []float64 {
	s := p.spec
	v := p.values
	act := func(x float64) float64 { return float64(lstmActivateF32(s.act, float32(x))) }
	if s.act == model.ActTanh {
		act = math.Tanh
	}
	sigmoid := func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
	out := make([]float64, s.batch*s.steps*s.nOutput)
	for b := range s.batch {
		h := make([]float64, s.nOutput)
		c := make([]float64, s.nCell)
		for t := range s.steps {
			inOff, outOff := (b*s.steps+t)*s.nInput, (b*s.steps+t)*s.nOutput
			if s.timeMajor {
				inOff, outOff = (t*s.batch+b)*s.nInput, (t*s.batch+b)*s.nOutput
			}
			x := p.input[inOff : inOff+s.nInput]
			var gates [lstmGates][]float64
			for g := range lstmGates {
				if g == lstmGateInput && s.cifg {
					continue
				}
				z := make([]float64, s.nCell)
				for i := range z {
					for j, xv := range x {
						z[i] += v[lstmInInputWeights+g][i*s.nInput+j] * xv
					}
					for j, hv := range h {
						z[i] += v[lstmInRecurrent+g][i*s.nOutput+j] * hv
					}
				}
				gates[g] = z
			}
			finish := func(g int, cell []float64) {
				z := gates[g]
				if pi := lstmPeepholeIndex(g); pi >= 0 && v[pi] != nil {
					for i := range z {
						z[i] += v[pi][i] * cell[i]
					}
				}
				if s.layerNorm {
					var mean, sq float64
					for _, zv := range z {
						mean += zv
					}
					mean /= float64(len(z))
					for _, zv := range z {
						sq += (zv - mean) * (zv - mean)
					}
					inv := 1 / math.Sqrt(sq/float64(len(z))+1e-8)
					for i := range z {
						z[i] = (z[i]-mean)*inv*v[lstmInLayerNorm+g][i] + v[lstmInBias+g][i]
					}
				} else {
					for i := range z {
						z[i] += v[lstmInBias+g][i]
					}
				}
				for i := range z {
					if g == lstmGateCell {
						z[i] = act(z[i])
					} else {
						z[i] = sigmoid(z[i])
					}
				}
			}
			if !s.cifg {
				finish(lstmGateInput, c)
			}
			finish(lstmGateForget, c)
			finish(lstmGateCell, nil)
			for i := range c {
				in := 1 - gates[lstmGateForget][i]
				if !s.cifg {
					in = gates[lstmGateInput][i]
				}
				c[i] = gates[lstmGateForget][i]*c[i] + in*gates[lstmGateCell][i]
				if clip := float64(s.cellClip); clip > 0 {
					c[i] = max(-clip, min(clip, c[i]))
				}
			}
			finish(lstmGateOutput, c)
			m := make([]float64, s.nCell)
			for i := range m {
				m[i] = gates[lstmGateOutput][i] * act(c[i])
			}
			if s.project {
				for o := range h {
					h[o] = v[lstmInProjBias][o]
					for i, mv := range m {
						h[o] += v[lstmInProjWeights][o*s.nCell+i] * mv
					}
					if clip := float64(s.projClip); clip > 0 {
						h[o] = max(-clip, min(clip, h[o]))
					}
				}
			} else {
				copy(h, m)
			}
			copy(out[outOff:outOff+s.nOutput], h)
		}
	}
	return out
}

// lstmShapeOf returns the tensor shape of node input i.
func (s lstmSpec) shapeOf(i int) []int {
	switch {
	case i == lstmInInput:
		if s.timeMajor {
			return []int{s.steps, s.batch, s.nInput}
		}
		return []int{s.batch, s.steps, s.nInput}
	case i >= lstmInInputWeights && i < lstmInRecurrent:
		return []int{s.nCell, s.nInput}
	case i >= lstmInRecurrent && i < lstmInPeephole:
		return []int{s.nCell, s.nOutput}
	case i == lstmInProjWeights:
		return []int{s.nOutput, s.nCell}
	case i == lstmInProjBias:
		return []int{s.nOutput}
	case i == lstmInOutputState:
		return []int{s.batch, s.nOutput}
	case i == lstmInCellState:
		return []int{s.batch, s.nCell}
	}
	return []int{s.nCell}
}

func (s lstmSpec) outputShape() []int {
	sh := s.shapeOf(lstmInInput)
	return []int{sh[0], sh[1], s.nOutput}
}

// node builds the integer LSTM node from p when integer is set, else the
// float32 one.
func (p *lstmParams) node(integer bool) *Node {
	if integer {
		return p.intNode()
	}
	return p.floatNode()
}

// floatNode builds a float32 LSTM node from p.
func (p *lstmParams) floatNode() *Node {
	s := p.spec
	n := &Node{
		Op:      model.OpUnidirectionalSequenceLstm,
		Options: &model.SequenceLSTMOptions{Activation: s.act, CellClip: s.cellClip, ProjClip: s.projClip, TimeMajor: s.timeMajor},
		Inputs:  make([]*Tensor, lstmNumInputs),
	}
	mk := func(i int, vals []float64) *Tensor {
		t := &Tensor{Type: model.Float32, Shape: s.shapeOf(i)}
		t.Data = AlignedBytes(t.Bytes())
		for j, v := range vals {
			t.F32()[j] = float32(v)
		}
		return t
	}
	for i, vals := range p.values {
		if vals != nil {
			n.Inputs[i] = mk(i, vals)
			n.Inputs[i].Const = true
		}
	}
	n.Inputs[lstmInInput] = mk(lstmInInput, p.input)
	n.Inputs[lstmInOutputState] = mk(lstmInOutputState, nil)
	n.Inputs[lstmInCellState] = mk(lstmInCellState, nil)
	n.Inputs[lstmInOutputState].Variable = true
	n.Inputs[lstmInCellState].Variable = true
	n.Outputs = []*Tensor{{Type: model.Float32}}
	return n
}

// lstmQuantize returns int8 values and a symmetric scale for v.
func lstmSymScale(v []float64, qmax float64) float32 {
	m := 0.0
	for _, x := range v {
		m = max(m, math.Abs(x))
	}
	if m == 0 {
		m = 1
	}
	return float32(m / qmax)
}

// intNode builds a full-integer LSTM node from p, and rewrites p's values to
// the dequantized ones so that p.reference() sees the same parameters.
func (p *lstmParams) intNode() *Node {
	s := p.spec
	const (
		stateScale = 1.0 / 128
		cellScale  = 1.0 / 2048 // 2^-11
		gateScale  = 1.0 / 1024 // layer-norm intermediates
	)
	inScale, inZP := float32(2.0/255), int64(3)
	n := &Node{
		Op:      model.OpUnidirectionalSequenceLstm,
		Options: &model.SequenceLSTMOptions{Activation: model.ActTanh, CellClip: s.cellClip, ProjClip: s.projClip, TimeMajor: s.timeMajor},
		Inputs:  make([]*Tensor, lstmNumInputs),
	}
	quant := func(scale float32, zp int64) *model.Quantization {
		return &model.Quantization{Scale: []float32{scale}, ZeroPoint: []int64{zp}}
	}
	mk := func(i int, typ model.TensorType, q *model.Quantization) *Tensor {
		t := &Tensor{Type: typ, Shape: s.shapeOf(i), Quant: q}
		t.Data = AlignedBytes(t.Bytes())
		return t
	}
	// Quantizes p.values[i] with the given scale into t and stores the
	// dequantized values back.
	store := func(t *Tensor, vals []float64, scale float64, lo, hi float64, zp int64) {
		for j, v := range vals {
			q := max(lo, min(hi, math.Round(v/scale)+float64(zp)))
			vals[j] = (q - float64(zp)) * scale
			switch t.Type {
			case model.Int8:
				t.I8()[j] = int8(q)
			case model.Int16:
				t.I16()[j] = int16(q)
			case model.Int32:
				t.I32()[j] = int32(q)
			}
		}
	}
	in := mk(lstmInInput, model.Int8, quant(inScale, inZP))
	store(in, p.input, float64(inScale), -128, 127, inZP)
	n.Inputs[lstmInInput] = in

	var wScale [lstmInLayerNorm + lstmGates]float32
	for g := range lstmGates {
		for _, i := range []int{lstmInInputWeights + g, lstmInRecurrent + g, lstmPeepholeIndex(g), lstmInLayerNorm + g} {
			if i < 0 || p.values[i] == nil {
				continue
			}
			typ, qmax := model.Int8, 127.0
			if i >= lstmInPeephole && i < lstmInBias || i >= lstmInLayerNorm {
				typ, qmax = model.Int16, 32767
			}
			wScale[i] = lstmSymScale(p.values[i], qmax)
			n.Inputs[i] = mk(i, typ, quant(wScale[i], 0))
			store(n.Inputs[i], p.values[i], float64(wScale[i]), -qmax-1, qmax, 0)
		}
		if b := p.values[lstmInBias+g]; b != nil {
			scale := float64(wScale[lstmInInputWeights+g]) * float64(inScale)
			if s.layerNorm {
				scale = float64(wScale[lstmInLayerNorm+g]) / 1024
			}
			n.Inputs[lstmInBias+g] = mk(lstmInBias+g, model.Int32, quant(float32(scale), 0))
			store(n.Inputs[lstmInBias+g], b, scale, math.MinInt32, math.MaxInt32, 0)
		}
	}
	if s.project {
		i := lstmInProjWeights
		wScale[i] = lstmSymScale(p.values[i], 127)
		n.Inputs[i] = mk(i, model.Int8, quant(wScale[i], 0))
		store(n.Inputs[i], p.values[i], float64(wScale[i]), -128, 127, 0)
		scale := float64(wScale[i]) * stateScale
		n.Inputs[lstmInProjBias] = mk(lstmInProjBias, model.Int32, quant(float32(scale), 0))
		store(n.Inputs[lstmInProjBias], p.values[lstmInProjBias], scale, math.MinInt32, math.MaxInt32, 0)
	}
	for i, t := range n.Inputs {
		if t != nil && i != lstmInInput {
			t.Const = true
		}
	}
	n.Inputs[lstmInOutputState] = mk(lstmInOutputState, model.Int8, quant(stateScale, 0))
	n.Inputs[lstmInCellState] = mk(lstmInCellState, model.Int16, quant(cellScale, 0))
	n.Inputs[lstmInOutputState].Variable = true
	n.Inputs[lstmInCellState].Variable = true
	n.Outputs = []*Tensor{{Type: model.Int8, Quant: quant(stateScale, 0)}}
	n.Intermediates = make([]*Tensor, lstmNumIntermediates)
	for g := range lstmGates {
		n.Intermediates[g] = &Tensor{Type: model.Float32}
		if s.layerNorm {
			n.Intermediates[g] = &Tensor{Type: model.Int16, Quant: quant(gateScale, 0)}
		}
	}
	n.Intermediates[4] = &Tensor{Type: model.Int8, Quant: quant(stateScale, 0)}
	return n
}

// lstmPrepare prepares the node of s on threads goroutines and allocates
// its output; the context closes when tb ends.
func lstmPrepare(tb testing.TB, s lstmSpec, integer bool, threads int) (*Context, *lstmKernel, *Node) {
	tb.Helper()
	n := lstmRandomParams(s).node(integer)
	ctx := NewContext(threads)
	tb.Cleanup(ctx.Close)
	k := new(lstmKernel)
	if err := k.Prepare(ctx, n); err != nil {
		tb.Fatal(err)
	}
	n.Outputs[0].Data = AlignedBytes(n.Outputs[0].Bytes())
	return ctx, k, n
}

// lstmRun prepares and evaluates n once, allocating the output.
func lstmRun(t testing.TB, n *Node) Kernel {
	t.Helper()
	k := new(lstmKernel)
	ctx := NewContext(2)
	t.Cleanup(ctx.Close)
	if err := k.Prepare(ctx, n); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	out := n.Outputs[0]
	out.Data = AlignedBytes(out.Bytes())
	if err := k.Eval(ctx, n); err != nil {
		t.Fatalf("Eval: %v", err)
	}
	return k
}

func lstmOutputValues(t *Tensor) []float64 {
	out := make([]float64, t.NumElements())
	for i := range out {
		switch t.Type {
		case model.Float32:
			out[i] = float64(t.F32()[i])
		case model.Int8:
			out[i] = t.Scale() * float64(int32(t.I8()[i])-t.ZeroPoint())
		}
	}
	return out
}

func lstmSpecs() []lstmSpec {
	base := lstmSpec{batch: 1, steps: 3, nInput: 5, nCell: 4, nOutput: 4, act: model.ActTanh, seed: 1}
	var specs []lstmSpec
	add := func(f func(s *lstmSpec)) {
		s := base
		s.seed = int64(len(specs) + 1)
		f(&s)
		specs = append(specs, s)
	}
	add(func(s *lstmSpec) {})
	add(func(s *lstmSpec) { s.batch, s.steps, s.nInput, s.nCell, s.nOutput = 3, 7, 13, 9, 9 })
	add(func(s *lstmSpec) { s.batch, s.timeMajor = 3, true })
	add(func(s *lstmSpec) { s.cifg = true })
	add(func(s *lstmSpec) { s.peephole = true })
	add(func(s *lstmSpec) { s.cifg, s.peephole = true, true })
	add(func(s *lstmSpec) { s.project, s.nOutput = true, 3 })
	add(func(s *lstmSpec) { s.project, s.nOutput, s.projClip = true, 6, 0.3 })
	add(func(s *lstmSpec) { s.cellClip = 0.4 })
	add(func(s *lstmSpec) { s.layerNorm, s.nCell, s.nOutput = true, 8, 8 })
	add(func(s *lstmSpec) { s.layerNorm, s.cifg, s.peephole, s.nCell, s.nOutput = true, true, true, 8, 8 })
	add(func(s *lstmSpec) { s.batch, s.steps, s.nInput, s.nCell, s.nOutput = 2, 6, 67, 41, 41 })
	return specs
}

func TestLSTMFloatMatchesReference(t *testing.T) {
	specs := lstmSpecs()
	for _, act := range []model.Activation{model.ActRelu, model.ActRelu6, model.ActReluN1To1, model.ActNone} {
		s := specs[1]
		s.act = act
		specs = append(specs, s)
	}
	for _, s := range specs {
		t.Run(s.String(), func(t *testing.T) {
			p := lstmRandomParams(s)
			n := p.floatNode()
			lstmRun(t, n)
			if got, want := n.Outputs[0].Shape, s.outputShape(); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("output shape = %v, want %v", got, want)
			}
			got, want := lstmOutputValues(n.Outputs[0]), p.reference()
			for i := range want {
				if math.Abs(got[i]-want[i]) > 1e-5+1e-5*math.Abs(want[i]) {
					t.Fatalf("output[%d] = %g, want %g", i, got[i], want[i])
				}
			}
		})
	}
}

// TestLSTMFloatHandWorked checks one unit over two steps against values
// worked out from the LSTM equations.
func TestLSTMFloatHandWorked(t *testing.T) {
	s := lstmSpec{batch: 1, steps: 2, nInput: 1, nCell: 1, nOutput: 1, act: model.ActTanh}
	p := &lstmParams{spec: s, input: []float64{1, -2}}
	// Gates input, forget, cell, output: W_x, W_h and bias.
	wx := [lstmGates]float64{0.5, -0.25, 1, 0.75}
	wh := [lstmGates]float64{0.1, 0.2, -0.3, 0.4}
	bias := [lstmGates]float64{0, 1, 0.5, -0.5}
	for g := range lstmGates {
		p.values[lstmInInputWeights+g] = []float64{wx[g]}
		p.values[lstmInRecurrent+g] = []float64{wh[g]}
		p.values[lstmInBias+g] = []float64{bias[g]}
	}
	sig := func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
	// Step 1 (h = c = 0, x = 1): i = σ(0.5), f = σ(0.75), g = tanh(1.5),
	// o = σ(0.25); c1 = i·g; h1 = o·tanh(c1).
	c1 := sig(0.5) * math.Tanh(1.5)
	h1 := sig(0.25) * math.Tanh(c1)
	// Step 2 (x = -2).
	i2 := sig(-1 + 0.1*h1)
	f2 := sig(1.5 + 0.2*h1)
	g2 := math.Tanh(-1.5 - 0.3*h1)
	o2 := sig(-2 + 0.4*h1)
	c2 := f2*c1 + i2*g2
	h2 := o2 * math.Tanh(c2)

	n := p.floatNode()
	lstmRun(t, n)
	got := lstmOutputValues(n.Outputs[0])
	for i, want := range []float64{h1, h2} {
		if math.Abs(got[i]-want) > 1e-6 {
			t.Errorf("h[%d] = %.7f, want %.7f", i, got[i], want)
		}
	}
	if c := float64(n.Inputs[lstmInCellState].F32()[0]); math.Abs(c-c2) > 1e-6 {
		t.Errorf("cell state = %.7f, want %.7f", c, c2)
	}
	if h := float64(n.Inputs[lstmInOutputState].F32()[0]); math.Abs(h-h2) > 1e-6 {
		t.Errorf("output state = %.7f, want %.7f", h, h2)
	}
}

// TestLSTMIntMatchesFloat checks the integer LSTM against the float
// equations on the dequantized parameters.
func TestLSTMIntMatchesFloat(t *testing.T) {
	for _, s := range lstmSpecs() {
		if s.act != model.ActTanh {
			continue
		}
		t.Run(s.String(), func(t *testing.T) {
			p := lstmRandomParams(s)
			n := p.intNode()
			lstmRun(t, n)
			got, want := lstmOutputValues(n.Outputs[0]), p.reference()
			worst := 0.0
			for i := range want {
				worst = max(worst, math.Abs(got[i]-want[i])*128)
			}
			// Gates are Q3.12 and activations Q0.15, fine enough that the
			// output stays within a step of 1/128 of the real value.
			if worst > 1 {
				t.Errorf("worst difference %.2f output steps, want <= 1", worst)
			}
		})
	}
}

func TestLSTMTimeMajorMatchesBatchMajor(t *testing.T) {
	for _, integer := range []bool{false, true} {
		t.Run(fmt.Sprintf("integer=%v", integer), func(t *testing.T) {
			s := lstmSpec{batch: 3, steps: 4, nInput: 6, nCell: 5, nOutput: 5, act: model.ActTanh, seed: 7}
			p := lstmRandomParams(s)
			tm := *p
			tm.spec.timeMajor = true
			tm.input = make([]float64, len(p.input))
			for b := range s.batch {
				for st := range s.steps {
					copy(tm.input[(st*s.batch+b)*s.nInput:], p.input[(b*s.steps+st)*s.nInput:(b*s.steps+st+1)*s.nInput])
				}
			}
			build := func(p *lstmParams) *Node {
				if integer {
					return p.intNode()
				}
				return p.floatNode()
			}
			bm, tn := build(p), build(&tm)
			lstmRun(t, bm)
			lstmRun(t, tn)
			a, b := lstmOutputValues(bm.Outputs[0]), lstmOutputValues(tn.Outputs[0])
			for bi := range s.batch {
				for st := range s.steps {
					for o := range s.nOutput {
						x, y := a[(bi*s.steps+st)*s.nOutput+o], b[(st*s.batch+bi)*s.nOutput+o]
						if math.Abs(x-y) > 1e-6 {
							t.Fatalf("batch %d step %d unit %d: batch-major %g, time-major %g", bi, st, o, x, y)
						}
					}
				}
			}
		})
	}
}

// TestLSTMStateCarriesOver checks that a second Eval continues from the
// state the first left, and that zeroing the state (what the interpreter's
// Reset does) reproduces the first result.
func TestLSTMStateCarriesOver(t *testing.T) {
	for _, integer := range []bool{false, true} {
		t.Run(fmt.Sprintf("integer=%v", integer), func(t *testing.T) {
			s := lstmSpec{batch: 2, steps: 3, nInput: 4, nCell: 3, nOutput: 3, act: model.ActTanh, seed: 9}
			n := lstmRandomParams(s).node(integer)
			k := lstmRun(t, n)
			first := append([]byte(nil), n.Outputs[0].Data...)
			ctx := NewContext(1)
			defer ctx.Close()
			if err := k.Eval(ctx, n); err != nil {
				t.Fatal(err)
			}
			if string(first) == string(n.Outputs[0].Data) {
				t.Fatal("second Eval repeated the first output: state was not carried over")
			}
			clear(n.Inputs[lstmInOutputState].Data)
			clear(n.Inputs[lstmInCellState].Data)
			if err := k.Eval(ctx, n); err != nil {
				t.Fatal(err)
			}
			if string(first) != string(n.Outputs[0].Data) {
				t.Fatal("Eval after clearing the state differs from the first Eval")
			}
		})
	}
}

func TestLSTMEvalDoesNotAllocate(t *testing.T) {
	for _, integer := range []bool{false, true} {
		for _, threads := range []int{1, 2} {
			t.Run(fmt.Sprintf("integer=%v/threads=%d", integer, threads), func(t *testing.T) {
				s := lstmSpec{batch: 2, steps: 4, nInput: 200, nCell: 64, nOutput: 64, act: model.ActTanh, peephole: true, seed: 3}
				ctx, k, n := lstmPrepare(t, s, integer, threads)
				if threads > 1 && !k.parallel {
					t.Fatal("expected the parallel path for this size")
				}
				allocs := testing.AllocsPerRun(20, func() {
					if err := k.Eval(ctx, n); err != nil {
						t.Fatal(err)
					}
				})
				if allocs != 0 {
					t.Errorf("Eval allocates %.1f times per run, want 0", allocs)
				}
			})
		}
	}
}

func TestLSTMPrepareErrors(t *testing.T) {
	base := lstmSpec{batch: 1, steps: 2, nInput: 3, nCell: 4, nOutput: 4, act: model.ActTanh, seed: 5}
	tests := []struct {
		name        string
		integer     bool
		edit        func(n *Node)
		unsupported bool
	}{
		{name: "missing options", edit: func(n *Node) { n.Options = nil }},
		{name: "too few inputs", edit: func(n *Node) { n.Inputs = n.Inputs[:10] }},
		{name: "rank 2 input", edit: func(n *Node) { n.Inputs[0].Shape = []int{2, 3} }},
		{name: "missing forget weights", edit: func(n *Node) { n.Inputs[2] = nil }},
		{name: "wrong weight shape", edit: func(n *Node) { n.Inputs[3].Shape = []int{4, 2} }},
		{name: "half CIFG", edit: func(n *Node) { n.Inputs[1] = nil }},
		{name: "CIFG with input bias", edit: func(n *Node) { n.Inputs[1], n.Inputs[5] = nil, nil }},
		{name: "projection bias alone", edit: func(n *Node) {
			n.Inputs[lstmInProjBias] = &Tensor{Type: model.Float32, Shape: []int{4}, Data: AlignedBytes(16)}
		}},
		{name: "state size", edit: func(n *Node) { n.Inputs[lstmInCellState].Shape = []int{1, 5} }},
		{name: "negative clip", edit: func(n *Node) { n.Options.(*model.SequenceLSTMOptions).CellClip = -1 }},
		{name: "sign-bit activation", edit: func(n *Node) { n.Options.(*model.SequenceLSTMOptions).Activation = model.ActSignBit }, unsupported: true},
		{name: "hybrid weights", edit: func(n *Node) { n.Inputs[4].Type = model.Int8 }, unsupported: true},
		{name: "int8 missing intermediates", integer: true, edit: func(n *Node) { n.Intermediates = nil }},
		{name: "int8 cell scale not a power of two", integer: true, edit: func(n *Node) {
			n.Inputs[lstmInCellState].Quant = &model.Quantization{Scale: []float32{0.001}, ZeroPoint: []int64{0}}
		}, unsupported: true},
		{name: "int8 variable weights", integer: true, edit: func(n *Node) { n.Inputs[3].Const = false }, unsupported: true},
		{name: "int8 float bias", integer: true, edit: func(n *Node) { n.Inputs[13].Type = model.Float32 }, unsupported: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := lstmRandomParams(base).node(tt.integer)
			tt.edit(n)
			err := new(lstmKernel).Prepare(NewContext(1), n)
			if err == nil {
				t.Fatal("Prepare succeeded, want an error")
			}
			if got := errors.Is(err, ErrUnsupported); got != tt.unsupported {
				t.Errorf("Prepare = %v; errors.Is(ErrUnsupported) = %v, want %v", err, got, tt.unsupported)
			}
		})
	}
}

// TestLSTMFixedPointActivations compares the int16 sigmoid and tanh with
// the real functions over every input.
func TestLSTMFixedPointActivations(t *testing.T) {
	// gemmlowp's 16-bit Newton-Raphson division keeps them within about a
	// dozen LSBs of Q0.15.
	const tol = 16.0 / 32768
	worstSig := 0.0
	for x := math.MinInt16; x <= math.MaxInt16; x++ {
		got := float64(lstmSigmoid16(int16(x))) / 32768
		want := 1 / (1 + math.Exp(-float64(x)/4096))
		worstSig = max(worstSig, math.Abs(got-want))
	}
	if worstSig > tol {
		t.Errorf("sigmoid: worst error %g, want <= %g", worstSig, tol)
	}
	for bits := 0; bits <= 6; bits++ {
		worst := 0.0
		for x := math.MinInt16; x <= math.MaxInt16; x++ {
			got := float64(lstmTanh16(int16(x), bits)) / 32768
			want := math.Tanh(float64(x) / float64(int(1)<<(15-bits)))
			worst = max(worst, math.Abs(got-want))
		}
		if worst > tol {
			t.Errorf("tanh with %d integer bits: worst error %g, want <= %g", bits, worst, tol)
		}
	}
	for _, tt := range []struct {
		name      string
		got, want int16
	}{
		{"sigmoid(0)", lstmSigmoid16(0), 16384},
		{"tanh(0)", lstmTanh16(0, 3), 0},
		{"sigmoid(-8)", lstmSigmoid16(math.MinInt16), 11},
		{"tanh(8)", lstmTanh16(math.MaxInt16, 3), 32767},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %d, want %d", tt.name, tt.got, tt.want)
		}
	}
}

// TestLSTMFixedPointConstants checks the 16-bit constants against
// gemmlowp's 32-bit ones, rounded the way gemmlowp rounds them.
func TestLSTMFixedPointConstants(t *testing.T) {
	rescale := func(v int32) int16 { return int16(RoundingDivideByPOT(v, 16)) }
	for _, tt := range []struct {
		name string
		got  int16
		raw  int32
	}{
		{"exp(-1/8)", lstmExpMinusEighth, 1895147668},
		{"1/3", lstmOneThird, 715827883},
		{"48/17", lstm48Over17, 1515870810},
		{"-32/17", lstmNeg32Over17, -1010580540},
		{"1/2", lstmOneHalf, 1 << 30},
		{"exp(-1/4)", lstmExpBarrel(-2), 1672461947},
		{"exp(-1/2)", lstmExpBarrel(-1), 1302514674},
		{"exp(-1)", lstmExpBarrel(0), 790015084},
		{"exp(-2)", lstmExpBarrel(1), 290630308},
		{"exp(-4)", lstmExpBarrel(2), 39332535},
		{"exp(-8)", lstmExpBarrel(3), 720401},
		{"exp(-16)", lstmExpBarrel(4), 242},
	} {
		if want := rescale(tt.raw); tt.got != want {
			t.Errorf("%s = %d, want %d", tt.name, tt.got, want)
		}
	}
}

func TestLSTMInvSqrt(t *testing.T) {
	for _, x := range []int32{2, 3, 7, 100, 4096, 1 << 20, 123456789, math.MaxInt32} {
		mult, shift := lstmInvSqrt(x)
		got := float64(mult) / (1 << 31) * math.Pow(2, float64(shift))
		want := 1 / math.Sqrt(float64(x))
		if math.Abs(got-want) > 1e-5*want {
			t.Errorf("lstmInvSqrt(%d) = %g, want %g", x, got, want)
		}
	}
}

func BenchmarkLSTM(b *testing.B) {
	for _, integer := range []bool{false, true} {
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("integer=%v/threads=%d", integer, threads), func(b *testing.B) {
				s := lstmSpec{batch: 1, steps: 49, nInput: 257, nCell: 80, nOutput: 80, act: model.ActTanh, seed: 11}
				ctx, k, n := lstmPrepare(b, s, integer, threads)
				b.ReportAllocs()
				for b.Loop() {
					if err := k.Eval(ctx, n); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
