package quantize

import (
	"github.com/ood-agent/ood-agent/model"
)

// quantizer assigns int8 parameters to the float tensors of one model and
// writes the quantized graph.
type quantizer struct {
	m      *model.Model
	sg     *model.Subgraph
	rules  []rule
	ranges []valueRange

	// Tensors that must share parameters form groups (union–find over
	// tensor indices). Each root holds the union of its members' ranges and
	// the fixed parameters of a member, if any.
	parent []int
	span   []valueRange
	fixed  []*model.Quantization
	params []*model.Quantization // per root, once computed

	// operand marks float tensors that become int8 in place: activations
	// and constants used other than as weights or bias.
	operand []bool
	// requant lists the inputs of kindSame ops whose parameters could not
	// be shared (a fixed output range next to a wider one); a QUANTIZE op
	// requantizes them into the output's group.
	requant map[[2]int]bool
}

func newQuantizer(m *model.Model, rules []rule, ranges []valueRange) *quantizer {
	sg := &m.Subgraphs[0]
	n := len(sg.Tensors)
	q := &quantizer{
		m: m, sg: sg, rules: rules, ranges: ranges,
		parent: make([]int, n), span: make([]valueRange, n),
		fixed: make([]*model.Quantization, n), params: make([]*model.Quantization, n),
		operand: make([]bool, n), requant: map[[2]int]bool{},
	}
	for i := range q.parent {
		q.parent[i] = i
		q.span[i] = ranges[i]
	}
	for i := range sg.Tensors {
		if t := &sg.Tensors[i]; t.Type == model.Float32 && !isConst(m, t) {
			q.operand[i] = true
		}
	}
	for oi, op := range sg.Operators {
		r := rules[oi]
		for k, ti := range op.Inputs {
			if ti >= 0 && sg.Tensors[ti].Type == model.Float32 && !r.isWeightSlot(k) {
				q.operand[ti] = true
			}
		}
		if r.kind == kindFixed {
			q.fixed[op.Outputs[0]] = r.fixed
		}
	}
	return q
}

func (q *quantizer) find(i int) int {
	for q.parent[i] != i {
		q.parent[i] = q.parent[q.parent[i]]
		i = q.parent[i]
	}
	return i
}

// union merges the groups of a and b unless that would force a fixed
// quantization onto values it cannot represent, or two different fixed
// quantizations onto one group; it reports whether they now share one.
func (q *quantizer) union(a, b int) bool {
	ra, rb := q.find(a), q.find(b)
	if ra == rb {
		return true
	}
	fa, fb := q.fixed[ra], q.fixed[rb]
	if fa != nil && fb != nil && !sameQuant(fa, fb) {
		return false
	}
	span := q.span[ra]
	if q.span[rb].seen {
		span.add(q.span[rb].lo, q.span[rb].hi)
	}
	f := fa
	if f == nil {
		f = fb
	}
	if f != nil && span.seen {
		lo, hi, step := representable(f)
		if span.lo < lo-step || span.hi > hi+step {
			return false
		}
	}
	q.parent[rb] = ra
	q.span[ra] = span
	q.fixed[ra] = f
	return true
}

// group ties the float inputs of every kindSame op to its output.
func (q *quantizer) group() {
	for oi, op := range q.sg.Operators {
		if q.rules[oi].kind != kindSame {
			continue
		}
		out := op.Outputs[0]
		for k, ti := range op.Inputs {
			if ti < 0 || q.sg.Tensors[ti].Type != model.Float32 {
				continue
			}
			if !q.union(out, ti) {
				q.requant[[2]int{oi, k}] = true
			}
		}
	}
}

// quant returns the int8 parameters of float tensor i.
func (q *quantizer) quant(i int) *model.Quantization {
	r := q.find(i)
	if q.params[r] == nil {
		if q.fixed[r] != nil {
			q.params[r] = q.fixed[r]
		} else {
			q.params[r] = asymmetric(q.span[r])
		}
	}
	return q.params[r]
}

// graph is the quantized model under construction: tensors (indices below
// len(sg.Tensors) keep the float model's numbering), the new constant data
// by tensor index, and operators in execution order.
type graph struct {
	tensors []model.Tensor
	data    map[int][]byte
	ops     []model.Operator
	codes   []model.BuiltinOp // builtin of each op
}

func (g *graph) add(t model.Tensor, data []byte) int {
	g.tensors = append(g.tensors, t)
	i := len(g.tensors) - 1
	if data != nil {
		g.data[i] = data
	}
	return i
}

func (g *graph) op(code model.BuiltinOp, o model.Operator) {
	g.ops = append(g.ops, o)
	g.codes = append(g.codes, code)
}

// rewrite builds the quantized model.
func (q *quantizer) rewrite(opts Options) *model.Model {
	g := &graph{data: map[int][]byte{}}
	for i, t := range q.sg.Tensors {
		t.Shape = append([]int(nil), t.Shape...)
		if q.operand[i] {
			t.Type = model.Int8
			t.Quant = q.quant(i)
			if isConst(q.m, &t) {
				g.data[i] = quantizeValues(floats(q.m.Buffers[t.Buffer]), t.Quant)
			}
		}
		g.tensors = append(g.tensors, t)
	}

	inputs := append([]int(nil), q.sg.Inputs...)
	outputs := append([]int(nil), q.sg.Outputs...)
	if opts.IOType == model.Float32 {
		for k, i := range q.sg.Inputs {
			f := q.sg.Tensors[i]
			f.Shape = append([]int(nil), f.Shape...)
			fi := g.add(f, nil)
			g.tensors[i].Name += "_int8"
			inputs[k] = fi
			g.op(model.OpQuantize, model.Operator{Inputs: []int{fi}, Outputs: []int{i}})
		}
	}

	for oi, op := range q.sg.Operators {
		code := q.m.OperatorCodes[op.OpcodeIndex].Builtin
		op.Inputs = append([]int(nil), op.Inputs...)
		r := q.rules[oi]
		for k, ti := range op.Inputs {
			if !q.requant[[2]int{oi, k}] {
				continue
			}
			t := g.tensors[ti]
			t.Name += "/requantized"
			t.Quant = q.quant(op.Outputs[0])
			t.Buffer = 0
			ri := g.add(t, nil)
			g.op(model.OpQuantize, model.Operator{Inputs: []int{ti}, Outputs: []int{ri}})
			op.Inputs[k] = ri
		}
		if r.kind == kindWeighted {
			if code == model.OpFullyConnected && opts.PerChannelFullyConnected {
				r.axis = 0
			}
			q.weights(g, &op, r)
		}
		g.op(code, op)
	}

	if opts.IOType == model.Float32 {
		for k, i := range q.sg.Outputs {
			f := q.sg.Tensors[i]
			f.Shape = append([]int(nil), f.Shape...)
			fi := g.add(f, nil)
			if g.tensors[i].Name == f.Name {
				g.tensors[i].Name += "_int8"
			}
			outputs[k] = fi
			g.op(model.OpDequantize, model.Operator{Inputs: []int{i}, Outputs: []int{fi}})
		}
	}
	return q.assemble(g, inputs, outputs)
}

// weights replaces the float weights and bias of a weighted op with new
// int8 and int32 constants scaled for the op's input.
func (q *quantizer) weights(g *graph, op *model.Operator, r rule) {
	inScale := q.quant(op.Inputs[0]).Scale[0]
	wt := q.sg.Tensors[op.Inputs[1]]
	w := floats(q.m.Buffers[wt.Buffer])
	channels, channelOf := 1, func(int) int { return 0 }
	switch r.axis {
	case 0:
		channels = wt.Shape[0]
		per := len(w) / max(channels, 1)
		channelOf = func(i int) int { return i / per }
	case 3:
		channels = wt.Shape[3]
		channelOf = func(i int) int { return i % channels }
	}
	var bias []float32
	biasName := q.sg.Tensors[op.Outputs[0]].Name + "/bias"
	switch {
	case len(op.Inputs) > 2 && op.Inputs[2] >= 0:
		bt := &q.sg.Tensors[op.Inputs[2]]
		bias, biasName = floats(q.m.Buffers[bt.Buffer]), bt.Name
	case r.needsBias:
		// TFLite's int8 convolutions require a bias tensor; the converter
		// writes zeros when the float graph has none.
		bias = make([]float32, channels)
		if len(op.Inputs) < 3 {
			op.Inputs = append(op.Inputs, -1)
		}
	}
	scales := weightScales(w, channels, channelOf, bias, inScale)
	wq := &model.Quantization{Scale: scales, ZeroPoint: make([]int64, len(scales)), QuantizedDimension: max(r.axis, 0)}
	nw := model.Tensor{Name: wt.Name, Type: model.Int8, Shape: append([]int(nil), wt.Shape...), Quant: wq}
	op.Inputs[1] = g.add(nw, quantizeWeights(w, scales, channelOf))
	if bias != nil {
		data, bq := quantizeBias(bias, inScale, scales)
		nb := model.Tensor{Name: biasName, Type: model.Int32, Shape: []int{len(bias)}, Quant: bq}
		op.Inputs[2] = g.add(nb, data)
	}
}

// assemble keeps only the tensors the quantized graph uses, renumbers them,
// lays out buffers (new data, untouched constants, metadata) and records
// operator codes with their int8 versions.
func (q *quantizer) assemble(g *graph, inputs, outputs []int) *model.Model {
	used := make([]bool, len(g.tensors))
	mark := func(idx []int) {
		for _, i := range idx {
			if i >= 0 {
				used[i] = true
			}
		}
	}
	mark(inputs)
	mark(outputs)
	for _, op := range g.ops {
		mark(op.Inputs)
		mark(op.Outputs)
		mark(op.Intermediates)
	}

	out := &model.Model{Version: q.m.Version, Description: q.m.Description, Buffers: [][]byte{nil}}
	if out.Version == 0 {
		out.Version = 3
	}
	sg := model.Subgraph{Name: q.sg.Name}
	renumber := make([]int, len(g.tensors))
	reused := map[int]int{} // float model buffer -> new buffer
	for i, t := range g.tensors {
		renumber[i] = -1
		if !used[i] {
			continue
		}
		if data, ok := g.data[i]; ok {
			out.Buffers = append(out.Buffers, data)
			t.Buffer = len(out.Buffers) - 1
		} else if t.Buffer > 0 {
			b, ok := reused[t.Buffer]
			if !ok {
				out.Buffers = append(out.Buffers, q.m.Buffers[t.Buffer])
				b = len(out.Buffers) - 1
				reused[t.Buffer] = b
			}
			t.Buffer = b
		} else {
			t.Buffer = 0
		}
		renumber[i] = len(sg.Tensors)
		sg.Tensors = append(sg.Tensors, t)
	}
	remap := func(idx []int) []int {
		if idx == nil {
			return nil
		}
		r := make([]int, len(idx))
		for k, i := range idx {
			r[k] = -1
			if i >= 0 {
				r[k] = renumber[i]
			}
		}
		return r
	}
	sg.Inputs, sg.Outputs = remap(inputs), remap(outputs)

	codeIndex := map[model.BuiltinOp]int{}
	for k, op := range g.ops {
		op.Inputs, op.Outputs, op.Intermediates = remap(op.Inputs), remap(op.Outputs), remap(op.Intermediates)
		code := g.codes[k]
		v := opVersion(code, &op, sg.Tensors)
		ci, ok := codeIndex[code]
		if !ok {
			out.OperatorCodes = append(out.OperatorCodes, model.OperatorCode{Builtin: code, Version: v})
			ci = len(out.OperatorCodes) - 1
			codeIndex[code] = ci
		}
		out.OperatorCodes[ci].Version = max(out.OperatorCodes[ci].Version, v)
		op.OpcodeIndex = ci
		sg.Operators = append(sg.Operators, op)
	}
	out.Subgraphs = []model.Subgraph{sg}

	for _, e := range q.m.Metadata {
		out.Buffers = append(out.Buffers, q.m.Buffers[e.Buffer])
		out.Metadata = append(out.Metadata, model.MetadataEntry{Name: e.Name, Buffer: len(out.Buffers) - 1})
	}
	return out
}
