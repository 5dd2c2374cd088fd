package rollout

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/ood-agent/ood-agent/agent/control"
)

// Swapper connects a Manager to the control service and to the frame
// loop. Start, called by the runner's control.Handler for a rollout
// command, prepares the candidate in the background and reports each step
// as a result of that command; the frame loop picks the candidate up with
// Take between two frames:
//
//	if c, ok := swapper.Take(); ok {
//		if err := manager.Activate(c); err != nil {
//			c.Close() // the old model stays; Activate reported why
//		} else {
//			previous, det = det, c.Detector
//		}
//	}
//	res, err := det.Image(frame) // a panic or error here: manager.Rollback(reason) and swap back
//	switch v, _ := manager.Observe(res.OOD); v {
//	case rollout.VerdictCommit:
//		previous.Close()
//	case rollout.VerdictRollback:
//		det.Close()
//		det = previous
//	}
type Swapper struct {
	m      *Manager
	report func(context.Context, control.Result) error
	local  func(Progress)
	ctx    context.Context
	ready  chan *Candidate

	mu        sync.Mutex
	cmdID     string
	lastShare int64 // last reported download progress, in tenths
}

// NewSwapper makes a Swapper for m that reports the steps of rollout
// commands through report (such as control.Service.Report) until ctx
// ends, and tells local, if not nil, the steps of rollouts no command
// started: the agent's own adaptations (PrepareLocal) and a rollout
// recovered at start. It takes over m's progress function.
func NewSwapper(ctx context.Context, m *Manager, report func(context.Context, control.Result) error, local func(Progress)) *Swapper {
	s := &Swapper{m: m, report: report, local: local, ctx: ctx, ready: make(chan *Candidate, 1)}
	m.SetProgress(s.progress)
	return s
}

// Start accepts a verified rollout command and returns at once; the
// preparation starts when the control service runs the outcome's Then,
// after publishing "accepted", and its steps follow as results with the
// command's id.
func (s *Swapper) Start(cmd control.Command) (control.Outcome, error) {
	args, ok := cmd.Args.(*control.RolloutArgs)
	if !ok || cmd.Type != control.TypeRollout {
		return control.Outcome{}, fmt.Errorf("rollout: command %s is %s, not a rollout", cmd.ID, cmd.Type)
	}
	man, err := ParseManifest(s.m.opts.Keys, args.Manifest)
	if err != nil {
		return control.Outcome{}, err
	}
	s.mu.Lock()
	busy := s.cmdID != ""
	if !busy {
		s.cmdID, s.lastShare = cmd.ID, -1
	}
	s.mu.Unlock()
	if busy {
		return control.Outcome{}, ErrBusy
	}
	prepare := func() {
		c, err := s.m.Prepare(s.ctx, args.Manifest)
		if err != nil {
			// Prepare reported the failure unless it never started.
			if errors.Is(err, ErrBusy) {
				s.send(control.Result{Type: control.TypeRollout, Code: control.CodeApplyFailed, Stage: string(PhaseFailed), Message: err.Error()})
			}
			s.finish()
			return
		}
		select {
		case s.ready <- c:
		case <-s.ctx.Done():
			c.Close()
		}
	}
	// The download starts once "accepted" is out (Outcome.Then), so that
	// its "downloading" cannot reach the hub first.
	return control.Outcome{Stage: "accepted", Message: fmt.Sprintf("rolling out %s", man.Version), Settings: map[string]any{"version": man.Version},
		Then: func() { go prepare() }}, nil
}

// Offer hands the frame loop a candidate prepared outside a command,
// such as the agent's own adaptation (Manager.PrepareLocal). It reports
// false, leaving c to the caller, when another candidate is waiting.
func (s *Swapper) Offer(c *Candidate) bool {
	select {
	case s.ready <- c:
		return true
	default:
		return false
	}
}

// Take returns the candidate ready to be activated, if any. Call it
// between frames.
func (s *Swapper) Take() (*Candidate, bool) {
	select {
	case c := <-s.ready:
		return c, true
	default:
		return nil, false
	}
}

func (s *Swapper) finish() {
	s.mu.Lock()
	s.cmdID = ""
	s.mu.Unlock()
}

// progress turns a Manager step into a result of the rollout command.
// Downloads are reported at most every tenth of the size.
func (s *Swapper) progress(p Progress) {
	s.mu.Lock()
	command := s.cmdID != ""
	s.mu.Unlock()
	if !command {
		if s.local != nil {
			s.local(p)
		}
		return
	}
	r := control.Result{Type: control.TypeRollout, OK: true, Stage: string(p.Phase), Message: p.Message,
		Settings: map[string]any{"version": p.Version}}
	if p.Phase == PhaseDownloading && p.Total > 0 {
		share := 10 * p.Done / p.Total
		s.mu.Lock()
		skip := share == s.lastShare
		s.lastShare = share
		s.mu.Unlock()
		if skip {
			return
		}
		r.Message = fmt.Sprintf("%d of %d bytes", p.Done, p.Total)
	}
	switch p.Phase {
	case PhaseFailed, PhaseRolledBack:
		r.OK, r.Code = false, control.CodeApplyFailed
	}
	s.send(r)
	switch p.Phase {
	case PhaseFailed, PhaseRolledBack, PhaseCommitted:
		s.finish()
	}
}

func (s *Swapper) send(r control.Result) {
	s.mu.Lock()
	r.ID = s.cmdID
	s.mu.Unlock()
	if r.ID == "" || s.report == nil {
		return // a step of a rollout recovered at start, not of a command
	}
	s.report(s.ctx, r)
}
