package interp

import (
	"fmt"
	"runtime"
	"time"

	"github.com/ood-agent/ood-agent/model"
	"github.com/ood-agent/ood-agent/model/kernels"
)

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

// Interpreter runs the main subgraph of a model: a Plan's per-run state —
// its own arena, kernels with their scratch, variable tensors and worker
// goroutines.
type Interpreter struct {
	plan    *Plan
	tensors []*kernels.Tensor
	nodes   []node
	inputs  []*kernels.Tensor
	outputs []*kernels.Tensor
	ctx     *kernels.Context
	arena   []byte
	// variables are the indices of the variable tensors, which Reset
	// sets back to the plan's initial values.
	variables []int
}

type node struct {
	kernels.Node
	kernel kernels.Kernel
	index  int
	name   string
}

// New builds an interpreter for m: NewPlan and NewFromPlan in one step.
// Operators without a kernel are all reported at once, by name and count.
func New(m *model.Model, opts Options) (*Interpreter, error) {
	p, err := NewPlan(m, opts)
	if err != nil {
		return nil, err
	}
	return NewFromPlan(p)
}

// NewFromPlan builds an interpreter that shares p's weights and layout
// with every other interpreter of p, with its own arena and worker
// goroutines. It is safe to call concurrently.
func NewFromPlan(p *Plan) (*Interpreter, error) {
	ctx := kernels.NewContext(p.threads)
	p.configure(ctx)
	it, err := p.prepare(ctx)
	if err != nil {
		ctx.Close()
		return nil, err
	}
	// Arena and variables go in after Prepare, as kernels found them
	// when the plan was made: unset until the graph runs.
	it.arena = kernels.AlignedBytes(p.arenaSize)
	for i, t := range it.tensors {
		pt := &p.tensors[i]
		switch {
		case pt.offset >= 0:
			if t.Bytes() != pt.size {
				ctx.Close()
				return nil, fmt.Errorf("tensor %d (%s): %d bytes after prepare, the plan has %d", i, t.Name, t.Bytes(), pt.size)
			}
			t.Data = it.arena[pt.offset : pt.offset+pt.size : pt.offset+pt.size]
		case t.Variable:
			if t.Data == nil {
				t.Data = kernels.AlignedBytes(t.Bytes())
			}
			it.variables = append(it.variables, i)
		}
	}
	return it, nil
}

// Invoke runs the graph once on the current input tensors.
func (it *Interpreter) Invoke() error { return it.invoke(nil) }

// invoke runs the graph, adding each operator's wall time to times unless
// it is nil.
func (it *Interpreter) invoke(times []time.Duration) error {
	var start time.Time
	for i := range it.nodes {
		n := &it.nodes[i]
		if times != nil {
			start = time.Now()
		}
		if err := n.kernel.Eval(it.ctx, &n.Node); err != nil {
			return fmt.Errorf("op %d (%s): %w", n.index, n.name, err)
		}
		if times != nil {
			times[i] += time.Since(start)
		}
	}
	return nil
}

// Reset restores variable tensors (LSTM state) and stateful kernels to their
// initial values.
func (it *Interpreter) Reset() {
	for _, i := range it.variables {
		clear(it.tensors[i].Data)
		copy(it.tensors[i].Data, it.plan.tensors[i].data)
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
func (it *Interpreter) Model() *model.Model { return it.plan.model }

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
	i, ok := it.plan.byName[name]
	return i, ok
}

// ArenaBytes is the size of the planned arena.
func (it *Interpreter) ArenaBytes() int { return len(it.arena) }
