package interp

import (
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strings"

	"github.com/ood-agent/ood-agent/model"
	"github.com/ood-agent/ood-agent/model/kernels"
	"github.com/ood-agent/ood-agent/model/memplan"
)

// ErrUnsupportedOps is wrapped when a model contains operators without a kernel.
var ErrUnsupportedOps = errors.New("unsupported operators")

// Options configures an Interpreter.
type Options struct {
	// Threads is the number of goroutines kernels may use; 0 means
	// DefaultThreads.
	Threads int
	// Kernels forces a kernel level; the zero value (kernels.LevelAuto)
	// takes the level named by OOD_AGENT_KERNELS, or else the best one the
	// machine runs. A level the machine cannot run makes New fail.
	Kernels kernels.Level
	// Preserve lists tensor indices that must stay readable after Invoke.
	// Other intermediate tensors share arena memory and are overwritten.
	Preserve []int
	// PreserveAll keeps every tensor readable after Invoke, at the cost of
	// an arena the size of all tensors together.
	PreserveAll bool
	// ReferenceRounding selects TFLite's reference (TFLite Micro)
	// requantization in 8-bit convolutions instead of the default runtime's;
	// see kernels.Context.
	ReferenceRounding bool
}

// Interpreter runs the main subgraph of a model.
type Interpreter struct {
	model   *model.Model
	tensors []*kernels.Tensor
	nodes   []node
	inputs  []*kernels.Tensor
	outputs []*kernels.Tensor
	ctx     *kernels.Context
	arena   []byte
	// variables keeps each variable tensor's initial value for Reset.
	variables []variable
	byName    map[string]int
}

type node struct {
	kernels.Node
	kernel kernels.Kernel
	index  int
	name   string
}

type variable struct {
	t       *kernels.Tensor
	initial []byte
}

// Plan is what the interpreters of one model can share: the model, the
// options and the kernels' read-only prepared data (the packed weights of
// convolutions and fully connected layers). Each interpreter built from it
// keeps its own activations and scratch, so they can run concurrently.
type Plan struct {
	model  *model.Model
	opts   Options
	shared *kernels.Shared
}

// NewPlan returns a plan for m with opts. The first interpreter built from
// it prepares the weights; the others reuse them.
func NewPlan(m *model.Model, opts Options) *Plan {
	return &Plan{model: m, opts: opts, shared: kernels.NewShared()}
}

// NewFromPlan builds an interpreter that shares p's prepared weights with
// every other interpreter of p. It is safe to call concurrently.
func NewFromPlan(p *Plan) (*Interpreter, error) { return build(p.model, p.opts, p.shared) }

// New builds an interpreter for m. Operators without a kernel are all
// reported at once, by name and count.
func New(m *model.Model, opts Options) (*Interpreter, error) { return build(m, opts, nil) }

// build is New with an optional cache of prepared weights.
func build(m *model.Model, opts Options, shared *kernels.Shared) (*Interpreter, error) {
	sg := &m.Subgraphs[0]
	registry := kernels.Registry()
	missing := map[string]int{}
	for _, op := range sg.Operators {
		code := m.OperatorCodes[op.OpcodeIndex]
		if _, ok := registry[code.Builtin]; !ok || code.Builtin == model.OpCustom {
			missing[m.OpName(op)]++
		}
	}
	if len(missing) > 0 {
		var parts []string
		for name, n := range missing {
			parts = append(parts, fmt.Sprintf("%s ×%d", name, n))
		}
		sort.Strings(parts)
		return nil, fmt.Errorf("%w: %s", ErrUnsupportedOps, strings.Join(parts, ", "))
	}

	level, err := kernels.ResolveLevel(opts.Kernels)
	if err != nil {
		return nil, err
	}
	threads := opts.Threads
	if threads <= 0 {
		threads = DefaultThreads()
	}
	ctx := kernels.NewContext(threads)
	ctx.ReferenceRounding = opts.ReferenceRounding
	ctx.Level = level
	ctx.Shared = shared
	it := &Interpreter{model: m, ctx: ctx, byName: map[string]int{}}
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
		if data := m.Buffers[mt.Buffer]; mt.Buffer > 0 && len(data) > 0 {
			if mt.IsVariable {
				t.Data = kernels.AlignedBytes(len(data))
				copy(t.Data, data)
			} else {
				t.Const = true
				t.Data = data
				if !kernels.Aligned(data, mt.Type.Size()) {
					t.Data = kernels.AlignedBytes(len(data))
					copy(t.Data, data)
				}
			}
		}
		it.tensors[i] = t
		if _, dup := it.byName[mt.Name]; !dup {
			it.byName[mt.Name] = i
		}
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
			kernel: registry[code.Builtin](),
			index:  oi,
			name:   code.Builtin.String(),
		}
		if err := n.kernel.Prepare(it.ctx, &n.Node); err != nil {
			it.ctx.Close()
			return nil, fmt.Errorf("op %d (%s): %w", oi, n.name, err)
		}
		it.nodes = append(it.nodes, n)
	}
	if err := it.plan(sg, opts); err != nil {
		it.ctx.Close()
		return nil, err
	}
	return it, nil
}

// plan assigns arena memory to every non-constant tensor: it works out each
// tensor's lifetime (first write to last read, in operator order) and lets
// package memplan place them.
func (it *Interpreter) plan(sg *model.Subgraph, opts Options) error {
	const never = -1
	n := len(it.tensors)
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
		for _, i := range op.Inputs {
			if i >= 0 {
				touch(i, oi)
			}
		}
		for _, i := range op.Outputs {
			touch(i, oi)
		}
		for _, i := range op.Intermediates {
			if i >= 0 {
				touch(i, oi)
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
	for _, i := range opts.Preserve {
		if i < 0 || i >= n {
			return fmt.Errorf("preserve: tensor index %d out of range (%d tensors)", i, n)
		}
		keep(i)
	}

	var bufs []memplan.Buffer
	var idx []int
	for i, t := range it.tensors {
		if t.Data != nil || first[i] == never {
			continue
		}
		if t.Variable {
			t.Data = kernels.AlignedBytes(t.Bytes())
			continue
		}
		if opts.PreserveAll {
			keep(i)
		}
		bufs = append(bufs, memplan.Buffer{Size: t.Bytes(), First: first[i], Last: last[i]})
		idx = append(idx, i)
	}
	p, err := memplan.Place(bufs)
	if err != nil {
		return fmt.Errorf("plan memory: %w", err)
	}
	it.arena = kernels.AlignedBytes(p.Size)
	for k, i := range idx {
		t := it.tensors[i]
		off := p.Offsets[k]
		t.Data = it.arena[off : off+t.Bytes() : off+t.Bytes()]
	}
	for _, t := range it.tensors {
		if t.Variable {
			it.variables = append(it.variables, variable{t: t, initial: append([]byte(nil), t.Data...)})
		}
	}
	return nil
}

// Invoke runs the graph once on the current input tensors.
func (it *Interpreter) Invoke() error {
	for i := range it.nodes {
		n := &it.nodes[i]
		if err := n.kernel.Eval(it.ctx, &n.Node); err != nil {
			return fmt.Errorf("op %d (%s): %w", n.index, n.name, err)
		}
	}
	return nil
}

// Reset restores variable tensors (LSTM state) and stateful kernels to their
// initial values.
func (it *Interpreter) Reset() {
	for _, v := range it.variables {
		copy(v.t.Data, v.initial)
	}
	for _, n := range it.nodes {
		if r, ok := n.kernel.(kernels.Resetter); ok {
			r.Reset()
		}
	}
}

// Close releases the interpreter's worker goroutines.
func (it *Interpreter) Close() { it.ctx.Close() }

// KernelLevel is the microkernel level the interpreter runs.
func (it *Interpreter) KernelLevel() kernels.Level { return it.ctx.Level }

// Threads is the number of goroutines the interpreter's kernels use.
func (it *Interpreter) Threads() int { return it.ctx.Threads }

// MaxDefaultThreads caps DefaultThreads: past four threads the layers of
// the small models this agent runs split too finely to gain.
const MaxDefaultThreads = 4

// DefaultThreads is what Options.Threads 0 means: one goroutine per core,
// at most MaxDefaultThreads.
func DefaultThreads() int { return min(runtime.NumCPU(), MaxDefaultThreads) }

// Model returns the model the interpreter runs.
func (it *Interpreter) Model() *model.Model { return it.model }

// Inputs returns the graph's input tensors; write into their Data.
func (it *Interpreter) Inputs() []*kernels.Tensor { return it.inputs }

// Outputs returns the graph's output tensors.
func (it *Interpreter) Outputs() []*kernels.Tensor { return it.outputs }

// Input returns input i.
func (it *Interpreter) Input(i int) *kernels.Tensor { return it.inputs[i] }

// Output returns output i.
func (it *Interpreter) Output(i int) *kernels.Tensor { return it.outputs[i] }

// NumTensors is the number of tensors in the main subgraph.
func (it *Interpreter) NumTensors() int { return len(it.tensors) }

// Tensor returns tensor i of the main subgraph. Intermediate tensors hold
// their values after Invoke only when preserved (Options.Preserve).
func (it *Interpreter) Tensor(i int) *kernels.Tensor { return it.tensors[i] }

// TensorIndex returns the index of the first tensor with the given name.
func (it *Interpreter) TensorIndex(name string) (int, bool) {
	i, ok := it.byName[name]
	return i, ok
}

// ArenaBytes is the size of the planned arena.
func (it *Interpreter) ArenaBytes() int { return len(it.arena) }
