package rollout

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ood-agent/ood-agent/agent/internal/fsutil"
)

// Activate makes c the current model: the state becomes PhaseSwapping,
// "previous" is pointed at the old model, "current" at c, and the state
// becomes PhaseWatching. Call it between two frames, then use
// c.Detector for the next frame and report each frame's verdict to
// Observe. Keep the old detector until Observe says VerdictCommit: a
// rollback swaps it back in.
func (m *Manager) Activate(c *Candidate) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state.Phase == PhaseSwapping || m.state.Phase == PhaseWatching {
		return ErrBusy
	}
	prev, err := os.Readlink(m.path(currentLink))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("rollout: read current link: %w", err)
	}
	s := State{Phase: PhaseSwapping, Version: c.Manifest.Version, Dir: c.dir, Previous: prev, Manifest: c.signed}
	if err := m.setStateLocked(s); err != nil {
		return err
	}
	m.step("swapping")
	if prev != "" {
		if err := fsutil.Symlink(prev, m.path(previousLink)); err != nil {
			return m.abortSwapLocked(err)
		}
	}
	m.step("previous")
	if err := fsutil.Symlink(c.dir, m.path(currentLink)); err != nil {
		return m.abortSwapLocked(err)
	}
	m.step("current")
	s.Phase = PhaseWatching
	if err := m.setStateLocked(s); err != nil {
		return m.abortSwapLocked(err)
	}
	m.step("watching")
	m.watched, m.oodSeen = 0, 0
	m.report(Progress{Phase: PhaseWatching, Version: s.Version, Message: fmt.Sprintf("switched; watching the first %d frames", m.cfg.WatchFrames)})
	return nil
}

func (m *Manager) step(name string) {
	if m.opts.crashAt != nil {
		m.opts.crashAt(name)
	}
}

func (m *Manager) abortSwapLocked(cause error) error {
	if err := m.rollbackLocked("switch failed: " + cause.Error()); err != nil {
		return fmt.Errorf("rollout: switch failed (%v), and rolling back failed: %w", cause, err)
	}
	return fmt.Errorf("rollout: switch failed, old model kept: %w", cause)
}

// Verdict is what Observe decided.
type Verdict int

// The verdicts.
const (
	// VerdictNone: no rollout is being watched, or the watch goes on.
	VerdictNone Verdict = iota
	// VerdictCommit: the new model passed; close the old detector.
	VerdictCommit
	// VerdictRollback: the new model failed; the links point at the old
	// model again, swap the old detector back in and close the new one.
	VerdictRollback
)

// Observe counts one frame of the watched model, isOOD being its
// decision, and commits or rolls back when the watch is decided: after
// WatchFrames frames, or as soon as more than MaxOODRate·WatchFrames
// frames were out of distribution. The state change is on disk when
// Observe returns.
func (m *Manager) Observe(isOOD bool) (Verdict, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state.Phase != PhaseWatching {
		return VerdictNone, nil
	}
	m.watched++
	if isOOD {
		m.oodSeen++
	}
	limit := m.cfg.MaxOODRate * float64(m.cfg.WatchFrames)
	if float64(m.oodSeen) > limit {
		reason := fmt.Sprintf("out-of-distribution rate too high: %d of the first %d frames, the bound is %.0f%% of %d",
			m.oodSeen, m.watched, 100*m.cfg.MaxOODRate, m.cfg.WatchFrames)
		if err := m.rollbackLocked(reason); err != nil {
			return VerdictRollback, err
		}
		return VerdictRollback, nil
	}
	if m.watched < m.cfg.WatchFrames {
		return VerdictNone, nil
	}
	return VerdictCommit, m.commitLocked()
}

// Rollback abandons the watched model now, for example because it failed
// or panicked on a frame. It is a no-op outside PhaseWatching.
func (m *Manager) Rollback(reason string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state.Phase != PhaseWatching {
		return nil
	}
	return m.rollbackLocked(reason)
}

func (m *Manager) commitLocked() error {
	s := m.state
	s.Phase = PhaseCommitted
	s.Reason = fmt.Sprintf("%d of the first %d frames out of distribution", m.oodSeen, m.watched)
	if err := m.setStateLocked(s); err != nil {
		return err
	}
	m.report(Progress{Phase: PhaseCommitted, Version: s.Version, Message: s.Reason})
	m.prune(s.Dir, s.Previous)
	return nil
}

// rollbackLocked points "current" back at the previous model (or removes
// it when the configured model ran before) and records why.
func (m *Manager) rollbackLocked(reason string) error {
	s := m.state
	if s.Previous != "" {
		if err := fsutil.Symlink(s.Previous, m.path(currentLink)); err != nil {
			return fmt.Errorf("rollout: roll back: %w", err)
		}
	} else {
		if err := os.Remove(m.path(currentLink)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("rollout: roll back: %w", err)
		}
		if err := fsutil.SyncDir(m.opts.Dir); err != nil {
			return fmt.Errorf("rollout: roll back: %w", err)
		}
	}
	s.Phase = PhaseRolledBack
	s.Reason = reason
	if err := m.setStateLocked(s); err != nil {
		return err
	}
	m.report(Progress{Phase: PhaseRolledBack, Version: s.Version, Message: reason})
	return nil
}

// prune removes version directories other than the current and previous
// ones, so the state directory holds at most two models.
func (m *Manager) prune(keep ...string) {
	entries, err := os.ReadDir(m.path(versionsDir))
	if err != nil {
		return
	}
	for _, e := range entries {
		rel := filepath.Join(versionsDir, e.Name())
		if rel == keep[0] || rel == keep[1] {
			continue
		}
		if err := os.RemoveAll(m.path(rel)); err != nil {
			m.log.Warn("cannot remove old model", "dir", rel, "err", err)
		}
	}
	// Partial downloads of abandoned rollouts.
	if parts, err := os.ReadDir(m.path(partialDir)); err == nil {
		for _, p := range parts {
			os.Remove(m.path(partialDir, p.Name()))
		}
	}
}
