package kernels

import "sync"

// Shared holds what kernels prepare that never changes once built —
// packed weights, requantization tables — keyed by node, so that several
// interpreters of one model (interp.NewFromPlan) keep one copy. Mutable
// state (scratch, activations, constants refreshed at Eval) stays in each
// interpreter's kernels. It is safe for concurrent use.
type Shared struct {
	mu       sync.Mutex
	prepared map[sharedKey]any
}

type sharedKey struct {
	node int
	what string
}

// NewShared returns an empty cache.
func NewShared() *Shared { return &Shared{prepared: map[sharedKey]any{}} }

// Len is the number of prepared objects held.
func (s *Shared) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.prepared)
}

// shared returns what build made for node n under what, calling build
// only the first time; without a cache (ctx.Shared nil) it just builds.
// Kernels must treat the result as read-only.
func shared[T any](ctx *Context, n *Node, what string, build func() T) T {
	if ctx == nil || ctx.Shared == nil {
		return build()
	}
	s := ctx.Shared
	key := sharedKey{n.Index, what}
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.prepared[key]; ok {
		return v.(T)
	}
	v := build()
	s.prepared[key] = v
	return v
}
