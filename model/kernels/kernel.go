package kernels

import (
	"errors"
	"fmt"

	"github.com/ood-agent/ood-agent/model"
)

// ErrUnsupported is wrapped when an operator, type or option combination has
// no kernel.
var ErrUnsupported = errors.New("unsupported")

// Node is one operator instance with its tensors resolved.
type Node struct {
	Op      model.BuiltinOp
	Version int32
	// Options holds the typed builtin options (for example
	// *model.Conv2DOptions), or nil.
	Options any
	// Inputs holds nil for omitted optional inputs.
	Inputs        []*Tensor
	Outputs       []*Tensor
	Intermediates []*Tensor
	// Index is the node's position in its graph, which keys what kernels
	// share through Context.Shared.
	Index int
}

// Input returns input i, or nil when it is omitted or absent.
func (n *Node) Input(i int) *Tensor {
	if i < len(n.Inputs) {
		return n.Inputs[i]
	}
	return nil
}

// Kernel computes one operator. Prepare runs once when the interpreter is
// built, in execution order: it validates input types and shapes, sets each
// output's Type is already set from the model, its Shape, and precomputes
// everything Eval needs (multipliers, scratch buffers). Output Data is not yet
// allocated during Prepare. Eval runs at every invocation and must not
// allocate.
type Kernel interface {
	Prepare(ctx *Context, n *Node) error
	Eval(ctx *Context, n *Node) error
}

// Resetter is implemented by kernels that keep state across invocations
// beyond variable tensors.
type Resetter interface {
	Reset()
}

// Context carries what kernels share within one interpreter.
type Context struct {
	// Threads is the number of goroutines a kernel may use (at least 1).
	Threads int
	// ReferenceRounding makes 8-bit convolutions and fully connected layers
	// rescale with TFLite's reference fixed-point arithmetic (as TFLite
	// Micro does) instead of the single float rounding of TFLite's default
	// runtime (XNNPACK). Each matches its runtime bit for bit; they differ
	// by at most one step per value, which compounds over deep networks.
	ReferenceRounding bool
	// Level selects the microkernels; NewContext sets the best level the
	// machine runs. Kernels read it at Prepare. LevelAuto means the same.
	Level Level
	pool  *pool
	// Shared, when set, lets kernels of several interpreters of one model
	// share their read-only prepared data (see Shared).
	Shared *Shared
	// f32Scratch is float memory that one kernel at a time may use
	// during Eval; Prepare sizes it with reserveF32.
	f32Scratch []float32
	// q8Scratch is each part's memory for the 8-bit matrix products,
	// shared by every layer in the same way; Prepare sizes it with
	// reserveQ8.
	q8Scratch []q8Scratch
	// splitSmall makes convolutions split even small layers across
	// threads, so that tests of small shapes cover the parallel path.
	splitSmall bool
}

// level is the level kernels run: Level, or the best one when unset or
// not runnable here.
func (c *Context) level() Level {
	if c == nil || c.Level == LevelAuto || !Supported(c.Level) {
		return BestLevel()
	}
	return c.Level
}

// reserveF32 makes f32Scratch at least n long. Kernels call it at
// Prepare and take the scratch again at every Eval, since a later
// reservation may have replaced it.
func (c *Context) reserveF32(n int) {
	if len(c.f32Scratch) < n {
		c.f32Scratch = make([]float32, n)
	}
}

func (c *Context) rounding() convRounding {
	if c != nil && c.ReferenceRounding {
		return convRoundReference
	}
	return convRoundRuntime
}

// NewContext returns a context for threads goroutines.
func NewContext(threads int) *Context {
	if threads < 1 {
		threads = 1
	}
	c := &Context{Threads: threads, Level: BestLevel()}
	if threads > 1 {
		c.pool = newPool(threads - 1)
	}
	return c
}

// Close stops the context's worker goroutines.
func (c *Context) Close() {
	if c.pool != nil {
		c.pool.close()
	}
}

// Factory makes a fresh kernel for one node.
type Factory func() Kernel

// Registry maps each supported builtin operator to its kernel factory.
func Registry() map[model.BuiltinOp]Factory {
	r := map[model.BuiltinOp]Factory{}
	registerConv(r)
	registerElementwise(r)
	registerShape(r)
	registerReduce(r)
	registerSequence(r)
	return r
}

// errorf formats a kernel error.
func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

// unsupportedf reports an unsupported type or option.
func unsupportedf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnsupported, fmt.Sprintf(format, args...))
}
