package rollout

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/ood-agent/ood-agent/agent/internal/fsutil"
)

// Phase is a step of a rollout. The phase is written to disk before the
// step it names begins, so that after a crash Open knows what to undo.
type Phase string

// The phases, in order. Committed, RolledBack and Failed end a rollout.
const (
	PhaseIdle        Phase = "idle"
	PhaseDownloading Phase = "downloading" // fetching into partial/
	PhaseStaged      Phase = "staged"      // files verified in v/<name>, being loaded and self-tested
	PhaseSwapping    Phase = "swapping"    // repointing the links
	PhaseWatching    Phase = "watching"    // new model live, first frames watched
	PhaseCommitted   Phase = "committed"
	PhaseRolledBack  Phase = "rolled_back" // new model was live and the previous came back
	PhaseFailed      Phase = "failed"      // never went live; the old model stayed
)

// State is the persisted rollout state, in <dir>/rollout.json.
type State struct {
	Phase   Phase  `json:"phase"`
	Version string `json:"version,omitempty"`
	// Dir is the new version's directory, relative to the manager's
	// directory ("v/<version>-<sha>").
	Dir string `json:"dir,omitempty"`
	// Previous is what "current" pointed at before the swap; "" when no
	// rolled-out model was active (the configured model ran).
	Previous string `json:"previous,omitempty"`
	// Manifest is the signed manifest being rolled out.
	Manifest json.RawMessage `json:"manifest,omitempty"`
	Reason   string          `json:"reason,omitempty"`
	Updated  time.Time       `json:"updated"`
}

const stateFile = "rollout.json"

func loadState(path string) (State, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return State{Phase: PhaseIdle}, nil
	}
	if err != nil {
		return State{}, fmt.Errorf("rollout: state: %w", err)
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return State{}, fmt.Errorf("rollout: state %s is damaged: %w", path, err)
	}
	return s, nil
}

func saveState(path string, s State) error {
	s.Updated = time.Now().UTC()
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := fsutil.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("rollout: save state: %w", err)
	}
	return nil
}
