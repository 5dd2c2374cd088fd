package interp

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/ood-agent/ood-agent/model"
	"github.com/ood-agent/ood-agent/model/kernels"
	"github.com/ood-agent/ood-agent/model/memplan"
)

// ErrUnsupportedOps is wrapped when a model contains operators without a kernel.
var ErrUnsupportedOps = errors.New("unsupported operators")

// Plan is what every interpreter of one model and options shares, worked
// out once and never changed: the operators resolved to kernels, each
// tensor's type and final shape, the constant data (aligned once, not
// copied per interpreter), the kernels' read-only prepared data (packed
// weights; see kernels.Shared) and the memory layout of the arena. An
// Interpreter adds the per-run state. Several interpreters of one plan —
// a pool of them for throughput, or the current model next to one being
// rolled out — keep one copy of the weights, and can run concurrently.
// A Plan is safe for concurrent use.
type Plan struct {
	model     *model.Model
	opts      Options
	level     kernels.Level
	threads   int
	shared    *kernels.Shared
	factories []kernels.Factory // per operator, in graph order
	tensors   []planTensor
	arenaSize int
	byName    map[string]int
}

// planTensor is what the plan knows of one tensor.
type planTensor struct {
	// data is a constant's value (aligned, shared by every interpreter)
	// or a variable's initial value.
	data []byte
	// offset and size place the tensor in the arena; offset is -1 for
	// constants, variables and tensors no operator touches.
	offset, size int
}

// NewPlan checks that every operator of m has a kernel (reporting all
// that do not at once, by name and count), prepares the kernels once to
// learn every tensor's final shape and to pack the weights, and plans the
// arena.
func NewPlan(m *model.Model, opts Options) (*Plan, error) {
	factories, err := resolveOps(m)
	if err != nil {
		return nil, err
	}
	level, err := kernels.ResolveLevel(opts.Kernels)
	if err != nil {
		return nil, err
	}
	p := &Plan{model: m, opts: opts, level: level, threads: opts.Threads, shared: kernels.NewShared(), factories: factories, byName: map[string]int{}}
	if p.threads <= 0 {
		p.threads = DefaultThreads()
	}
	sg := &m.Subgraphs[0]
	p.tensors = make([]planTensor, len(sg.Tensors))
	for i := range sg.Tensors {
		mt := &sg.Tensors[i]
		pt := &p.tensors[i]
		pt.offset = -1
		if data := m.Buffers[mt.Buffer]; mt.Buffer > 0 && len(data) > 0 {
			pt.data = data
			if !kernels.Aligned(data, mt.Type.Size()) {
				pt.data = kernels.AlignedBytes(len(data))
				copy(pt.data, data)
			}
		}
		if _, dup := p.byName[mt.Name]; !dup {
			p.byName[mt.Name] = i
		}
	}
	// The kernels of this first preparation are thrown away; what they
	// packed stays in p.shared for every interpreter. Without a worker
	// pool the context starts no goroutines.
	ctx := &kernels.Context{Threads: p.threads}
	p.configure(ctx)
	first, err := p.prepare(ctx)
	if err != nil {
		return nil, err
	}
	if err := p.layout(first.tensors); err != nil {
		return nil, err
	}
	return p, nil
}

// resolveOps returns the kernel factory of every operator of m's main
// subgraph, or reports every operator without a kernel.
func resolveOps(m *model.Model) ([]kernels.Factory, error) {
	registry := kernels.Registry()
	ops := m.Subgraphs[0].Operators
	factories := make([]kernels.Factory, len(ops))
	missing := map[string]int{}
	for i, op := range ops {
		code := m.OperatorCodes[op.OpcodeIndex]
		f, ok := registry[code.Builtin]
		if !ok || code.Builtin == model.OpCustom {
			missing[m.OpName(op)]++
		}
		factories[i] = f
	}
	if len(missing) == 0 {
		return factories, nil
	}
	var parts []string
	for name, n := range missing {
		parts = append(parts, fmt.Sprintf("%s ×%d", name, n))
	}
	sort.Strings(parts)
	return nil, fmt.Errorf("%w: %s", ErrUnsupportedOps, strings.Join(parts, ", "))
}

// configure sets what ctx takes from the plan.
func (p *Plan) configure(ctx *kernels.Context) {
	ctx.ReferenceRounding = p.opts.ReferenceRounding
	ctx.Level = p.level
	ctx.Shared = p.shared
}

// prepare makes an interpreter's tensor headers and kernels and prepares
// them on ctx; arena tensors get their memory afterwards.
func (p *Plan) prepare(ctx *kernels.Context) (*Interpreter, error) {
	m := p.model
	sg := &m.Subgraphs[0]
	it := &Interpreter{plan: p, ctx: ctx}
	it.tensors = make([]*kernels.Tensor, len(sg.Tensors))
	for i := range sg.Tensors {
		mt := &sg.Tensors[i]
		t := &kernels.Tensor{
			Name:     mt.Name,
			Type:     mt.Type,
			Shape:    append([]int(nil), mt.Shape...),
			Quant:    mt.Quant,
			Variable: mt.IsVariable,
		}
		switch data := p.tensors[i].data; {
		case data == nil:
		case mt.IsVariable:
			t.Data = kernels.AlignedBytes(len(data))
			copy(t.Data, data)
		default:
			t.Const = true
			t.Data = data
		}
		it.tensors[i] = t
	}
	for _, i := range sg.Inputs {
		it.inputs = append(it.inputs, it.tensors[i])
	}
	for _, i := range sg.Outputs {
		it.outputs = append(it.outputs, it.tensors[i])
	}
	resolve := func(idx []int) []*kernels.Tensor {
		out := make([]*kernels.Tensor, len(idx))
		for k, i := range idx {
			if i >= 0 {
				out[k] = it.tensors[i]
			}
		}
		return out
	}
	for oi, op := range sg.Operators {
		code := m.OperatorCodes[op.OpcodeIndex]
		n := node{
			Node: kernels.Node{
				Op:            code.Builtin,
				Version:       code.Version,
				Options:       op.Options,
				Inputs:        resolve(op.Inputs),
				Outputs:       resolve(op.Outputs),
				Intermediates: resolve(op.Intermediates),
				Index:         oi,
			},
			kernel: p.factories[oi](),
			index:  oi,
			name:   code.Builtin.String(),
		}
		if err := n.kernel.Prepare(ctx, &n.Node); err != nil {
			return nil, fmt.Errorf("op %d (%s): %w", oi, n.name, err)
		}
		it.nodes = append(it.nodes, n)
	}
	return it, nil
}

// layout works out each non-constant tensor's lifetime (first write to
// last read, in operator order) from the prepared tensors and lets
// package memplan place them in one arena.
func (p *Plan) layout(tensors []*kernels.Tensor) error {
	const never = -1
	sg := &p.model.Subgraphs[0]
	n := len(tensors)
	first := make([]int, n)
	last := make([]int, n)
	for i := range first {
		first[i], last[i] = never, never
	}
	end := len(sg.Operators)
	touch := func(i, at int) {
		if first[i] == never || at < first[i] {
			first[i] = at
		}
		if at > last[i] {
			last[i] = at
		}
	}
	for _, i := range sg.Inputs {
		touch(i, 0)
	}
	for oi, op := range sg.Operators {
		for _, list := range [][]int{op.Inputs, op.Outputs, op.Intermediates} {
			for _, i := range list {
				if i >= 0 {
					touch(i, oi)
				}
			}
		}
	}
	keep := func(i int) {
		if first[i] == never {
			first[i] = 0
		}
		last[i] = end
	}
	for _, i := range sg.Outputs {
		keep(i)
	}
	for _, i := range p.opts.Preserve {
		if i < 0 || i >= n {
			return fmt.Errorf("preserve: tensor index %d out of range (%d tensors)", i, n)
		}
		keep(i)
	}

	var bufs []memplan.Buffer
	var idx []int
	for i, t := range tensors {
		if t.Data != nil || first[i] == never || t.Variable {
			continue
		}
		if p.opts.PreserveAll {
			keep(i)
		}
		bufs = append(bufs, memplan.Buffer{Size: t.Bytes(), First: first[i], Last: last[i]})
		idx = append(idx, i)
	}
	placed, err := memplan.Place(bufs)
	if err != nil {
		return fmt.Errorf("plan memory: %w", err)
	}
	p.arenaSize = placed.Size
	for k, i := range idx {
		p.tensors[i].offset, p.tensors[i].size = placed.Offsets[k], bufs[k].Size
	}
	return nil
}
