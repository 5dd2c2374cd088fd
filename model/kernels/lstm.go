package kernels

import (
	"github.com/ood-agent/ood-agent/model"
)

// Input positions of UNIDIRECTIONAL_SEQUENCE_LSTM in TFLite's 24-input
// layout. The four gates follow the order input, forget, cell, output.
const (
	lstmInInput          = 0
	lstmInInputWeights   = 1  // 1..4: input-to-gate weights
	lstmInRecurrent      = 5  // 5..8: recurrent-to-gate weights
	lstmInPeephole       = 9  // 9..11: cell-to-{input,forget,output}
	lstmInBias           = 12 // 12..15: gate biases
	lstmInProjWeights    = 16
	lstmInProjBias       = 17
	lstmInOutputState    = 18
	lstmInCellState      = 19
	lstmInLayerNorm      = 20 // 20..23: layer-norm coefficients
	lstmNumInputs        = 24
	lstmNumInputsLegacy  = 20
	lstmNumIntermediates = 5
)

// Gate indices.
const (
	lstmGateInput = iota
	lstmGateForget
	lstmGateCell
	lstmGateOutput
	lstmGates
)

// lstmPeepholeIndex returns the input holding gate g's peephole weights, or
// -1 for the cell gate, which has none.
func lstmPeepholeIndex(g int) int {
	switch g {
	case lstmGateInput:
		return lstmInPeephole
	case lstmGateForget:
		return lstmInPeephole + 1
	case lstmGateOutput:
		return lstmInPeephole + 2
	}
	return -1
}

// lstmParallelWork is the number of multiply-accumulates per time step above
// which the gate matrix products are split across threads.
const lstmParallelWork = 1 << 14

// lstmKernel implements UNIDIRECTIONAL_SEQUENCE_LSTM for float32 and for
// full-integer int8 models (int8 activations and weights, int16 cell state).
type lstmKernel struct {
	opts      model.SequenceLSTMOptions
	batch     int // batches in the input
	steps     int // time steps
	nInput    int
	nCell     int
	nOutput   int
	cifg      bool // no input gate: it is 1 - forget gate
	peephole  bool
	layerNorm bool
	project   bool
	integer   bool
	firstRow  int // first gate row computed (nCell with CIFG)
	rowUnits  int // work items of rows: gate rows, or row pairs when integer
	parallel  bool

	// stepBatches (with the step's input and state slices in f or q)
	// describes the time step whose gate rows are computed; rows reads
	// them there, so the closure handed to ParallelFor is built only once.
	stepBatches int
	rows        func(lo, hi int)

	f lstmFloatState
	q lstmIntState
}

func (k *lstmKernel) Prepare(ctx *Context, n *Node) error {
	opts, ok := n.Options.(*model.SequenceLSTMOptions)
	if !ok || opts == nil {
		return errorf("missing UNIDIRECTIONAL_SEQUENCE_LSTM options")
	}
	k.opts = *opts
	if len(n.Inputs) != lstmNumInputs && len(n.Inputs) != lstmNumInputsLegacy {
		return errorf("want %d inputs, got %d", lstmNumInputs, len(n.Inputs))
	}
	if len(n.Outputs) != 1 || n.Outputs[0] == nil {
		return errorf("want 1 output, got %d", len(n.Outputs))
	}
	if k.opts.CellClip < 0 || k.opts.ProjClip < 0 {
		return errorf("negative clip (cell %g, projection %g)", k.opts.CellClip, k.opts.ProjClip)
	}
	if k.opts.DiagonalRecurrentTensors {
		return unsupportedf("diagonal recurrent weights")
	}
	in := n.Input(lstmInInput)
	if in == nil {
		return errorf("input 0: missing")
	}
	if len(in.Shape) != 3 {
		return errorf("input 0: want rank 3, got shape %v", in.Shape)
	}
	for _, i := range []int{2, 3, 4, 6, 7, 8, 13, 14, 15, lstmInOutputState, lstmInCellState} {
		if n.Input(i) == nil {
			return errorf("input %d: missing", i)
		}
	}
	if k.opts.TimeMajor {
		k.steps, k.batch = in.Shape[0], in.Shape[1]
	} else {
		k.batch, k.steps = in.Shape[0], in.Shape[1]
	}
	k.nInput = in.Shape[2]
	outW := n.Input(lstmInInputWeights + lstmGateOutput)
	recW := n.Input(lstmInRecurrent + lstmGateOutput)
	if len(outW.Shape) != 2 || len(recW.Shape) != 2 {
		return errorf("input 4 and 8: want rank-2 weights, got %v and %v", outW.Shape, recW.Shape)
	}
	k.nCell = outW.Shape[0]
	k.nOutput = recW.Shape[1]
	if err := k.checkShapes(n); err != nil {
		return err
	}

	out := n.Outputs[0]
	out.Shape = []int{in.Shape[0], in.Shape[1], k.nOutput}

	switch {
	case in.Type == model.Float32 && outW.Type == model.Float32:
		if err := k.prepareFloat(n); err != nil {
			return err
		}
	case in.Type == model.Int8 && outW.Type == model.Int8:
		k.integer = true
		if err := k.prepareInt(n); err != nil {
			return err
		}
	default:
		return unsupportedf("input %s with %s weights", in.Type, outW.Type)
	}
	if out.Type != in.Type {
		return errorf("output: want %s, got %s", in.Type, out.Type)
	}

	work := (lstmGates*k.nCell - k.firstRow) * (k.nInput + k.nOutput)
	if k.opts.TimeMajor {
		work *= k.batch
	}
	k.parallel = ctx != nil && ctx.Threads > 1 && work >= lstmParallelWork
	if k.integer {
		k.rows = k.intRows
		k.rowUnits = k.q.pairs
	} else {
		k.rows = k.floatRows
		k.rowUnits = lstmGates*k.nCell - k.firstRow
	}
	return nil
}

// checkShapes validates the optional-input combinations and every weight
// shape against n_input, n_cell and n_output, as TFLite does.
func (k *lstmKernel) checkShapes(n *Node) error {
	shape := func(i int, dims ...int) error {
		t := n.Input(i)
		if t == nil {
			return nil
		}
		if len(t.Shape) != len(dims) {
			return errorf("input %d: want shape %v, got %v", i, dims, t.Shape)
		}
		for j, d := range dims {
			if t.Shape[j] != d {
				return errorf("input %d: want shape %v, got %v", i, dims, t.Shape)
			}
		}
		return nil
	}
	for g := range lstmGates {
		if err := shape(lstmInInputWeights+g, k.nCell, k.nInput); err != nil {
			return err
		}
		if err := shape(lstmInRecurrent+g, k.nCell, k.nOutput); err != nil {
			return err
		}
		if err := shape(lstmInBias+g, k.nCell); err != nil {
			return err
		}
		if err := shape(lstmInLayerNorm+g, k.nCell); err != nil {
			return err
		}
	}
	for i := lstmInPeephole; i < lstmInPeephole+3; i++ {
		if err := shape(i, k.nCell); err != nil {
			return err
		}
	}
	if err := shape(lstmInProjWeights, k.nOutput, k.nCell); err != nil {
		return err
	}
	if err := shape(lstmInProjBias, k.nOutput); err != nil {
		return err
	}

	k.cifg = n.Input(lstmInInputWeights) == nil
	k.firstRow = 0
	if k.cifg {
		k.firstRow = k.nCell
	}
	if k.cifg != (n.Input(lstmInRecurrent) == nil) {
		return errorf("input-gate weights (inputs 1 and 5) must be both present or both absent")
	}
	if k.cifg != (n.Input(lstmInBias) == nil) {
		return errorf("input-gate bias (input 12) must be present exactly when input-gate weights are")
	}
	k.peephole = n.Input(lstmInPeephole+2) != nil
	if n.Input(lstmInPeephole+1) != nil != k.peephole ||
		(n.Input(lstmInPeephole) != nil) != (k.peephole && !k.cifg) {
		return errorf("peephole weights (inputs 9..11) must be all present or all absent")
	}
	k.project = n.Input(lstmInProjWeights) != nil
	if !k.project && n.Input(lstmInProjBias) != nil {
		return errorf("projection bias (input 17) without projection weights")
	}
	if !k.project && k.nOutput != k.nCell {
		return errorf("output size %d differs from cell size %d without projection", k.nOutput, k.nCell)
	}
	k.layerNorm = n.Input(lstmInLayerNorm+lstmGateForget) != nil
	for g := range lstmGates {
		want := k.layerNorm && (g != lstmGateInput || !k.cifg)
		if (n.Input(lstmInLayerNorm+g) != nil) != want {
			return errorf("layer-norm coefficients (inputs 20..23) must be present for every gate or none")
		}
	}
	if got := n.Input(lstmInOutputState).NumElements(); got != k.batch*k.nOutput {
		return errorf("output state (input 18): want %d elements, got %d", k.batch*k.nOutput, got)
	}
	if got := n.Input(lstmInCellState).NumElements(); got != k.batch*k.nCell {
		return errorf("cell state (input 19): want %d elements, got %d", k.batch*k.nCell, got)
	}
	return nil
}

func (k *lstmKernel) Eval(ctx *Context, n *Node) error {
	if k.integer {
		k.evalInt(ctx, n)
	} else {
		k.evalFloat(ctx, n)
	}
	return nil
}

// runRows computes the gate pre-activations of the current step, split
// across threads when the step is large enough.
func (k *lstmKernel) runRows(ctx *Context) {
	if k.parallel {
		ctx.ParallelFor(k.rowUnits, k.rows)
		return
	}
	k.rows(0, k.rowUnits)
}

// lstmBuffers are the per-step operands and scratch of both LSTMs: G is
// the gate and cell-state element, H the input, hidden and output-state
// element.
type lstmBuffers[G, H any] struct {
	// gates holds the pre-activations, then activations, of one step,
	// laid out [gate][batch][cell].
	gates  []G
	hidden []H // [batch][cell]
	// x and h are the current step's input and previous output state.
	x, h []H
}

// lstmMath is the arithmetic in which the float and the integer LSTM
// differ; lstmSequence and lstmStep do the rest.
type lstmMath[G, H any] interface {
	// finishGate applies gate g's peephole, layer norm and activation to
	// v in place. cell is the cell state the peephole reads (nil for the
	// cell gate).
	finishGate(g int, v, cell []G)
	// updateCell sets the cell state c from the forget, cell and input
	// gates; ig is nil with CIFG, where the input gate is 1 − forget gate.
	updateCell(c, fg, cg, ig []G)
	// hide sets hidden to the output gate og times the activated cell
	// state c.
	hide(hidden []H, og, c []G)
	// project sets one batch's output state h from its hidden state.
	project(h, hidden []H)
}

// lstmSequence runs the sequence: for each step, the gate rows (k.rows, which
// read buf.x and buf.h), then lstmStep.
func lstmSequence[G, H any](ctx *Context, k *lstmKernel, m lstmMath[G, H], buf *lstmBuffers[G, H], input, output, state []H, cell []G) {
	k.forEachStep(func(batches, in, out, b int) {
		buf.x = input[in : in+batches*k.nInput]
		buf.h = state[b*k.nOutput : (b+batches)*k.nOutput]
		k.stepBatches = batches
		k.runRows(ctx)
		lstmStep(k, m, buf, batches, cell[b*k.nCell:(b+batches)*k.nCell], output[out:out+batches*k.nOutput])
	})
}

// lstmStep finishes one step from the gate pre-activations: the gates'
// activations, the cell update, the hidden state and the output state,
// which it also copies to out.
func lstmStep[G, H any](k *lstmKernel, m lstmMath[G, H], buf *lstmBuffers[G, H], batches int, cell []G, out []H) {
	nCell, nOut := k.nCell, k.nOutput
	gate := func(g, b int) []G {
		o := (g*k.batch + b) * nCell
		return buf.gates[o : o+nCell]
	}
	for b := range batches {
		c := cell[b*nCell : (b+1)*nCell]
		var ig []G
		if !k.cifg {
			ig = gate(lstmGateInput, b)
			m.finishGate(lstmGateInput, ig, c)
		}
		fg, cg := gate(lstmGateForget, b), gate(lstmGateCell, b)
		m.finishGate(lstmGateForget, fg, c)
		m.finishGate(lstmGateCell, cg, nil)
		m.updateCell(c, fg, cg, ig)

		og := gate(lstmGateOutput, b)
		m.finishGate(lstmGateOutput, og, c)
		m.hide(buf.hidden[b*nCell:(b+1)*nCell], og, c)
	}

	h := buf.h
	if k.project {
		for b := range batches {
			m.project(h[b*nOut:(b+1)*nOut], buf.hidden[b*nCell:(b+1)*nCell])
		}
	} else {
		copy(h, buf.hidden[:batches*nCell])
	}
	copy(out, h)
}

// forEachStep walks the time steps in TFLite's order and reports, for each
// step, the batches it covers and the offsets (in elements) of its input,
// output, and state rows. Time-major sequences run all batches per step;
// batch-major ones run each batch's sequence in turn.
func (k *lstmKernel) forEachStep(step func(batches, in, out, state int)) {
	if k.opts.TimeMajor {
		for t := range k.steps {
			step(k.batch, t*k.batch*k.nInput, t*k.batch*k.nOutput, 0)
		}
		return
	}
	for b := range k.batch {
		for t := range k.steps {
			i := b*k.steps + t
			step(1, i*k.nInput, i*k.nOutput, b)
		}
	}
}
