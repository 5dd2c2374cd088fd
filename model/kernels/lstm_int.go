package kernels

import (
	"math"

	"github.com/ood-agent/ood-agent/model"
)

// lstmIntState holds the integer (8x8→16) LSTM's precomputed parameters,
// following TFLite's PopulateQuantizedLstmParams8x8_16: each gate's matrix
// products are rescaled into Q3.12 (or the layer-norm intermediate scale),
// activations produce Q0.15, the cell state is int16 with a power-of-two
// scale, and the hidden state is requantized to int8.
type lstmIntState struct {
	// packIn and packRec hold the input and recurrent weights of the
	// computed gate rows two rows per int64 (see lstmPackPairs).
	pairs           int
	packIn, packRec []int64
	// inBias and recBias fold the gate bias (without layer norm) and the
	// input or output-state zero point times each weight row's sum.
	inBias, recBias   [lstmGates][]int32
	inMul, recMul     [lstmGates]int32
	inShift, recShift [lstmGates]int

	peep      [lstmGates][]int16
	peepMul   [lstmGates]int32
	peepShift [lstmGates]int

	ln      [lstmGates][]int16
	lnBias  [lstmGates][]int32
	lnMul   [lstmGates]int32
	lnShift [lstmGates]int
	lnGuard [lstmGates]int32

	cellShift int // log2 of the cell state scale
	cellClip  int16
	projClip  int8

	hiddenMul   int32
	hiddenShift int
	hiddenZP    int32

	proj      []int8
	projBias  []int32
	projMul   int32
	projShift int
	stateZP   int32

	batch int // batches in the gate buffers
	nCell int
	lstmBuffers[int16, int8]
}

func (k *lstmKernel) prepareInt(n *Node) error {
	q := &k.q
	in := n.Inputs[lstmInInput]
	state := n.Inputs[lstmInOutputState]
	cell := n.Inputs[lstmInCellState]
	out := n.Outputs[0]
	want := func(i int, typ model.TensorType) error {
		t := n.Input(i)
		if t == nil {
			return nil
		}
		if t.Type != typ {
			return unsupportedf("input %d: integer LSTM wants %s, got %s", i, typ, t.Type)
		}
		return nil
	}
	for g := range lstmGates {
		for _, c := range []struct {
			i   int
			typ model.TensorType
		}{
			{lstmInInputWeights + g, model.Int8},
			{lstmInRecurrent + g, model.Int8},
			{lstmInBias + g, model.Int32},
			{lstmInLayerNorm + g, model.Int16},
		} {
			if err := want(c.i, c.typ); err != nil {
				return err
			}
		}
	}
	for i := lstmInPeephole; i < lstmInPeephole+3; i++ {
		if err := want(i, model.Int16); err != nil {
			return err
		}
	}
	for _, c := range []struct {
		i   int
		typ model.TensorType
	}{
		{lstmInProjWeights, model.Int8}, {lstmInProjBias, model.Int32},
		{lstmInOutputState, model.Int8}, {lstmInCellState, model.Int16},
	} {
		if err := want(c.i, c.typ); err != nil {
			return err
		}
	}
	for i, t := range n.Inputs {
		if t == nil || i == lstmInInput || i == lstmInOutputState || i == lstmInCellState {
			continue
		}
		if !t.Const {
			return unsupportedf("input %d: integer LSTM needs constant weights", i)
		}
		if !t.Quantized() && t.Type != model.Int32 {
			return errorf("input %d: missing quantization", i)
		}
	}
	if len(n.Intermediates) != lstmNumIntermediates {
		return errorf("integer LSTM wants %d intermediate tensors, got %d", lstmNumIntermediates, len(n.Intermediates))
	}
	hidden := n.Intermediates[4]
	for _, c := range []struct {
		name string
		t    *Tensor
	}{{"input 0", in}, {"output state", state}, {"cell state", cell}, {"output", out}, {"intermediate 4 (hidden state)", hidden}} {
		if c.t == nil || !c.t.Quantized() {
			return errorf("%s: missing quantization", c.name)
		}
		if s := c.t.Quant.Scale[0]; !(s > 0) || math.IsInf(float64(s), 0) {
			return errorf("%s: invalid scale %g", c.name, s)
		}
	}
	if k.nInput > 1<<16 || k.nOutput > 1<<16 {
		return unsupportedf("integer LSTM with %d inputs and %d outputs (at most 65536)", k.nInput, k.nOutput)
	}

	// Gate matmul outputs are Q3.12 unless layer norm rescales them, in
	// which case the converter records their scales as intermediates.
	var gateScale [lstmGates]float32
	for g := range lstmGates {
		gateScale[g] = 1.0 / 4096
		if k.layerNorm {
			t := n.Intermediates[g]
			if t == nil || !t.Quantized() {
				if g == lstmGateInput && k.cifg {
					continue
				}
				return errorf("intermediate %d: layer-norm LSTM needs its quantization", g)
			}
			gateScale[g] = t.Quant.Scale[0]
		}
	}
	hiddenScale := hidden.Quant.Scale[0]
	q.hiddenZP = hidden.ZeroPoint()

	cellScale := cell.Quant.Scale[0]
	log2 := float32(math.Log(float64(cellScale))) * (1 / float32(math.Log(2)))
	rounded := float32(math.Round(float64(log2)))
	if math.Abs(float64(log2-rounded)) >= 1e-3 {
		return unsupportedf("cell state scale %g is not a power of two", cellScale)
	}
	q.cellShift = int(rounded)
	if bits := 15 + q.cellShift; bits < 0 || bits > 6 {
		return unsupportedf("cell state scale 2^%d out of range [2^-15, 2^-9]", q.cellShift)
	}
	if clip := k.opts.CellClip; clip > 0 {
		q.cellClip = int16(min(max(clip/cellScale, -32768), 32767))
	}
	stateScale := state.Quant.Scale[0]
	if clip := k.opts.ProjClip; clip > 0 {
		q.projClip = int8(min(max(clip/out.Quant.Scale[0], -128), 127))
	}
	inScale := in.Quant.Scale[0]
	q.stateZP = state.ZeroPoint()

	for g := range lstmGates {
		wi, wr := n.Input(lstmInInputWeights+g), n.Input(lstmInRecurrent+g)
		if wi == nil {
			continue // CIFG input gate
		}
		// Single-precision products, as TFLite computes them.
		q.inMul[g], q.inShift[g] = QuantizeMultiplier(float64(float32(float32(wi.Quant.Scale[0]*inScale) / gateScale[g])))
		q.recMul[g], q.recShift[g] = QuantizeMultiplier(float64(float32(float32(wr.Quant.Scale[0]*stateScale) / gateScale[g])))
		var bias []int32
		if !k.layerNorm {
			bias = n.Input(lstmInBias + g).I32()
		}
		q.inBias[g] = lstmFoldZeroPoint(wi.I8(), k.nCell, k.nInput, -in.ZeroPoint(), bias)
		q.recBias[g] = lstmFoldZeroPoint(wr.I8(), k.nCell, k.nOutput, -q.stateZP, nil)

		if p := lstmPeepholeIndex(g); p >= 0 && n.Input(p) != nil {
			w := n.Input(p)
			q.peep[g] = w.I16()
			s := math.Pow(2, float64(q.cellShift)) * float64(w.Quant.Scale[0]) / float64(gateScale[g])
			q.peepMul[g], q.peepShift[g] = QuantizeMultiplier(float64(float32(s)))
		}
		if ln := n.Input(lstmInLayerNorm + g); ln != nil {
			q.ln[g] = ln.I16()
			q.lnBias[g] = n.Input(lstmInBias + g).I32()
			lnScale := ln.Quant.Scale[0]
			q.lnMul[g], q.lnShift[g] = QuantizeMultiplier(float64(lnScale))
			q.lnGuard[g] = max(1, int32(10000*lnScale))
		}
	}
	q.hiddenMul, q.hiddenShift = QuantizeMultiplier(float64(float32(math.Pow(2, -15) / float64(hiddenScale) * math.Pow(2, -15))))
	if k.project {
		w := n.Input(lstmInProjWeights)
		q.proj = w.I8()
		q.projMul, q.projShift = QuantizeMultiplier(float64(float32(float32(w.Quant.Scale[0]*hiddenScale) / stateScale)))
		var bias []int32
		if b := n.Input(lstmInProjBias); b != nil {
			bias = b.I32()
		}
		// TFLite folds the hidden zero point with its own sign here; see
		// lstmHiddenZPSign.
		q.projBias = lstmFoldZeroPoint(q.proj, k.nOutput, k.nCell, q.hiddenZP, bias)
	}
	q.packIn = k.packPairs(n, lstmInInputWeights, k.nInput)
	q.packRec = k.packPairs(n, lstmInRecurrent, k.nOutput)
	q.pairs = (lstmGates*k.nCell - k.firstRow + 1) / 2
	q.batch, q.nCell = k.batch, k.nCell
	q.gates = make([]int16, lstmGates*k.batch*k.nCell)
	q.hidden = make([]int8, k.batch*k.nCell)
	return nil
}

// packPairs packs the int8 weight rows of the computed gates (inputs
// first..first+3, in gate order, rows counted from k.firstRow) two per
// int64 word: row 2p in the low half, row 2p+1 in the high half. One
// 64-bit multiply by an activation then yields both rows' products, and
// the two 32-bit sums separate exactly as long as each stays within int32,
// which bounds the inner dimension to 2^16.
func (k *lstmKernel) packPairs(n *Node, first, cols int) []int64 {
	rows := lstmGates*k.nCell - k.firstRow
	pairs := (rows + 1) / 2
	out := make([]int64, pairs*cols)
	for r := range rows {
		row := r + k.firstRow
		w := n.Input(first + row/k.nCell).I8()
		i := row % k.nCell
		p, shift := r/2, 32*(r%2)
		for c, v := range w[i*cols : (i+1)*cols] {
			out[p*cols+c] += int64(v) << shift
		}
	}
	return out
}

// lstmFoldZeroPoint returns bias[r] + zp·Σ_c w[r][c] for each row, the
// constant part of a matrix product with a zero-point-shifted operand.
func lstmFoldZeroPoint(w []int8, rows, cols int, zp int32, bias []int32) []int32 {
	out := make([]int32, rows)
	for r := range out {
		if bias != nil {
			out[r] = bias[r]
		}
		var sum int32
		for _, v := range w[r*cols : (r+1)*cols] {
			sum += int32(v)
		}
		out[r] += sum * zp
	}
	return out
}

func (k *lstmKernel) evalInt(ctx *Context, n *Node) {
	lstmSequence(ctx, k, &k.q, &k.q.lstmBuffers, n.Inputs[lstmInInput].I8(), n.Outputs[0].I8(),
		n.Inputs[lstmInOutputState].I8(), n.Inputs[lstmInCellState].I16())
}

// intRows computes the rescaled input and recurrent products of gate rows
// [lo, hi) (counted from the first computed row). Like TFLite it saturates
// to int16 after each of the two products.
func (k *lstmKernel) intRows(lo, hi int) {
	q := &k.q
	nIn, nOut, nCell := k.nInput, k.nOutput, k.nCell
	end := lstmGates * nCell
	for p := lo; p < hi; p++ {
		pin := q.packIn[p*nIn : (p+1)*nIn]
		prec := q.packRec[p*nOut : (p+1)*nOut]
		for b := range k.stepBatches {
			in0, in1 := lstmDotPacked(pin, q.x[b*nIn:(b+1)*nIn])
			rec0, rec1 := lstmDotPacked(prec, q.h[b*nOut:(b+1)*nOut])
			row := k.firstRow + 2*p
			q.gateRow(row, b, in0, rec0)
			if row+1 < end {
				q.gateRow(row+1, b, in1, rec1)
			}
		}
	}
}

// gateRow finishes one gate row from its raw input and recurrent products:
// bias, rescaling to the gate scale and, as TFLite does, saturation to
// int16 after each of the two products.
func (q *lstmIntState) gateRow(row, b int, in, rec int32) {
	nCell := q.nCell
	g, i := row/nCell, row%nCell
	v := Clamp32(MultiplyByQuantizedMultiplier(q.inBias[g][i]+in, q.inMul[g], q.inShift[g]), math.MinInt16, math.MaxInt16)
	v = Clamp32(MultiplyByQuantizedMultiplier(q.recBias[g][i]+rec, q.recMul[g], q.recShift[g])+v, math.MinInt16, math.MaxInt16)
	q.gates[(g*q.batch+b)*nCell+i] = int16(v)
}

// lstmHiddenZPSign is the sign with which TFLite applies the hidden zero
// point when requantizing output_gate·tanh(cell): its CwiseMul subtracts
// it (and the projection folds it back in with a plus), and the expected
// outputs come from that runtime.
const lstmHiddenZPSign = -1

func (q *lstmIntState) updateCell(c, fg, cg, ig []int16) {
	shift := 30 + q.cellShift
	for j := range c {
		v := RoundingDivideByPOT(int32(fg[j])*int32(c[j]), 15)
		var in int32
		if ig == nil {
			in = math.MaxInt16 - int32(fg[j])
		} else {
			in = int32(ig[j])
		}
		v = int32(int16(v)) + int32(int16(RoundingDivideByPOT(in*int32(cg[j]), shift)))
		v = Clamp32(v, math.MinInt16, math.MaxInt16)
		if clip := int32(q.cellClip); clip > 0 {
			v = Clamp32(v, -clip, clip)
		}
		c[j] = int16(v)
	}
}

func (q *lstmIntState) hide(hidden []int8, og, c []int16) {
	tanhBits := 15 + q.cellShift
	for j := range hidden {
		v := int32(og[j]) * int32(lstmTanh16(c[j], tanhBits))
		v = MultiplyByQuantizedMultiplier(v, q.hiddenMul, q.hiddenShift) + lstmHiddenZPSign*q.hiddenZP
		hidden[j] = int8(Clamp32(v, math.MinInt8, math.MaxInt8))
	}
}

func (q *lstmIntState) project(h, hidden []int8) {
	nCell := len(hidden)
	for o := range h {
		acc := q.projBias[o] + lstmDotI8(q.proj[o*nCell:(o+1)*nCell], hidden)
		v := Clamp32(MultiplyByQuantizedMultiplier(acc, q.projMul, q.projShift)+q.stateZP, math.MinInt8, math.MaxInt8)
		if clip := int32(q.projClip); clip > 0 {
			v = Clamp32(v, -clip, clip)
		}
		h[o] = int8(v)
	}
}

// finishGate activates with a sigmoid from Q3.12 to Q0.15, or for the cell
// gate a tanh (see lstmMath).
func (q *lstmIntState) finishGate(g int, v, cell []int16) {
	if p := q.peep[g]; p != nil && cell != nil {
		for j := range v {
			prod := MultiplyByQuantizedMultiplier(int32(p[j])*int32(cell[j]), q.peepMul[g], q.peepShift[g])
			v[j] = int16(Clamp32(prod+int32(v[j]), math.MinInt16, math.MaxInt16))
		}
	}
	if q.ln[g] != nil {
		lstmLayerNormInt(v, q.ln[g], q.lnBias[g], q.lnMul[g], q.lnShift[g], q.lnGuard[g])
	}
	if g == lstmGateCell {
		for j := range v {
			v[j] = lstmTanh16(v[j], 3)
		}
		return
	}
	for j := range v {
		v[j] = lstmSigmoid16(v[j])
	}
}

// lstmLayerNormInt normalizes one gate vector in place the way TFLite's
// integer ApplyLayerNorm does: mean and variance in fixed point scaled by
// 2^10, an integer inverse square root, then the coefficient, bias and
// layer-norm scale into Q3.12.
func lstmLayerNormInt(v, weights []int16, bias []int32, mul int32, shift int, guard int32) {
	n := int64(len(v))
	var sum, sumSq int64
	for _, x := range v {
		sum += int64(x)
		sumSq += int64(int32(x) * int32(x))
	}
	mean := int32(sum * 1024 / n)
	temp := int32((1 << 20) / n)
	variance := sumSq*int64(temp) - int64(mean)*int64(mean)
	variance2 := int32(variance / (1 << 20))
	if variance2 < 1 {
		variance2 = guard
	}
	invMul, invShift := lstmInvSqrt(variance2)
	for j, x := range v {
		shifted := 1024*int32(x) - mean
		rescaled := MultiplyByQuantizedMultiplier(shifted, invMul, invShift)
		val3 := int64(rescaled*int32(weights[j]) + bias[j])
		if val3 > 0 {
			val3 += 512
		} else {
			val3 -= 512
		}
		val5 := MultiplyByQuantizedMultiplier(int32(val3/1024), mul, shift+12)
		v[j] = int16(Clamp32(val5, math.MinInt16, math.MaxInt16))
	}
}

// lstmDotPacked returns the dot products of x with the two weight rows
// packed in w (see packPairs).
func lstmDotPacked(w []int64, x []int8) (lo, hi int32) {
	x = x[:len(w)]
	var s0, s1 int64
	i := 0
	for ; i+4 <= len(w); i += 4 {
		s0 += w[i]*int64(x[i]) + w[i+1]*int64(x[i+1])
		s1 += w[i+2]*int64(x[i+2]) + w[i+3]*int64(x[i+3])
	}
	for ; i < len(w); i++ {
		s0 += w[i] * int64(x[i])
	}
	s := s0 + s1
	lo = int32(s)
	return lo, int32((s - int64(lo)) >> 32)
}

// lstmDotI8 returns the int32 dot product of a and b (len(b) >= len(a)).
func lstmDotI8(a, b []int8) int32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 int32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += int32(a[i]) * int32(b[i])
		s1 += int32(a[i+1]) * int32(b[i+1])
		s2 += int32(a[i+2]) * int32(b[i+2])
		s3 += int32(a[i+3]) * int32(b[i+3])
	}
	for ; i < len(a); i++ {
		s0 += int32(a[i]) * int32(b[i])
	}
	return s0 + s1 + s2 + s3
}
