package control

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/ood-agent/ood-agent/agent/internal/fsutil"
)

// ReplayFile is the name of the replay state in the state directory.
const ReplayFile = "control-replay.json"

// maxNonces bounds the nonce cache. The per-target sequence numbers
// already refuse every replay; the cache is a second line, so when it is
// full the entry that expires soonest makes room.
const maxNonces = 4096

// replayState is the persisted form.
type replayState struct {
	V int `json:"v"`
	// LastSeq is the sequence of the last accepted command per target
	// ("all", "device/<id>", "group/<name>"); MQTT keeps order within a
	// topic, and each target has its own topic.
	LastSeq map[string]uint64 `json:"last_seq"`
	// Nonces maps each nonce seen to when it can be forgotten (Unix
	// seconds): after that the command is refused as expired anyway.
	Nonces map[string]int64 `json:"nonces"`
}

// ReplayGuard remembers accepted commands so that none is accepted twice,
// across restarts: Accept writes the state to disk (fsync, rename, fsync
// of the directory) before it returns, and so before the command is
// applied. A crash in between loses the command rather than applying it
// twice.
type ReplayGuard struct {
	path      string
	maxNonces int
	mu        sync.Mutex
	st        replayState
}

// OpenReplayGuard loads the state kept in dir, or starts empty. A damaged
// file is an error rather than a silent reset, which would reopen the
// window for replays.
func OpenReplayGuard(dir string) (*ReplayGuard, error) {
	g := &ReplayGuard{path: dir + string(os.PathSeparator) + ReplayFile, maxNonces: maxNonces}
	data, err := os.ReadFile(g.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		g.st = replayState{V: 1, LastSeq: map[string]uint64{}, Nonces: map[string]int64{}}
		return g, nil
	case err != nil:
		return nil, fmt.Errorf("control: replay state: %w", err)
	}
	if err := json.Unmarshal(data, &g.st); err != nil {
		return nil, fmt.Errorf("control: replay state %s is damaged (%v); remove it only if no old signed command can reach this device", g.path, err)
	}
	if g.st.LastSeq == nil {
		g.st.LastSeq = map[string]uint64{}
	}
	if g.st.Nonces == nil {
		g.st.Nonces = map[string]int64{}
	}
	return g, nil
}

// Accept records c as accepted, or refuses it as replayed. forgetAt is
// when the nonce may be dropped (the command's expiry plus skew).
func (g *ReplayGuard) Accept(c Command, forgetAt, now time.Time) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	scope := c.Target.String()
	if last := g.st.LastSeq[scope]; c.Seq <= last {
		return refuse(CodeReplayed, c.ID, "sequence %d is not newer than %d, the last accepted for %s", c.Seq, last, scope)
	}
	if _, seen := g.st.Nonces[c.Nonce]; seen {
		return refuse(CodeReplayed, c.ID, "nonce %q was already used", c.Nonce)
	}
	next := replayState{V: 1, LastSeq: maps.Clone(g.st.LastSeq), Nonces: make(map[string]int64, len(g.st.Nonces)+1)}
	for n, exp := range g.st.Nonces {
		if exp > now.Unix() {
			next.Nonces[n] = exp
		}
	}
	if len(next.Nonces) >= g.maxNonces {
		byExpiry := slices.SortedFunc(maps.Keys(next.Nonces), func(a, b string) int {
			return cmp.Compare(next.Nonces[a], next.Nonces[b])
		})
		for _, n := range byExpiry[:len(next.Nonces)-g.maxNonces+1] {
			delete(next.Nonces, n)
		}
	}
	next.LastSeq[scope] = c.Seq
	next.Nonces[c.Nonce] = forgetAt.Unix() + 1
	data, err := json.Marshal(next)
	if err != nil {
		return err
	}
	if err := fsutil.WriteFile(g.path, data, 0o600); err != nil {
		return &Error{Code: CodeStateFailure, CommandID: c.ID, Msg: "cannot save the replay state; refusing the command", Err: err}
	}
	g.st = next
	return nil
}
