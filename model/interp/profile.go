package interp

import (
	"fmt"
	"time"
)

// Op describes one operator of the graph in execution order.
type Op struct {
	// Index is the operator's position in the model's subgraph.
	Index int
	// Name is the builtin operator (CONV_2D, ADD, ...).
	Name string
	// Output is the name of its first output tensor.
	Output string
	// Shape is that tensor's shape.
	Shape []int
}

// Ops lists the operators in execution order, as InvokeTimed times them.
func (it *Interpreter) Ops() []Op {
	ops := make([]Op, len(it.nodes))
	for i, n := range it.nodes {
		ops[i] = Op{Index: n.index, Name: n.name}
		if len(n.Outputs) > 0 && n.Outputs[0] != nil {
			ops[i].Output, ops[i].Shape = n.Outputs[0].Name, n.Outputs[0].Shape
		}
	}
	return ops
}

// InvokeTimed is Invoke that adds each operator's wall time to times (one
// element per operator of Ops), for a per-operator profile like TFLite's
// op profiling. The clock reads cost a little: time a whole Invoke with
// Invoke.
func (it *Interpreter) InvokeTimed(times []time.Duration) error {
	if len(times) != len(it.nodes) {
		return fmt.Errorf("interp: %d times for %d operators", len(times), len(it.nodes))
	}
	return it.invoke(times)
}
