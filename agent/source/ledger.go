package source

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/ood-agent/ood-agent/agent/internal/fsutil"
)

// DefaultLedgerEntries bounds a Ledger when LedgerOptions.MaxEntries is 0.
const DefaultLedgerEntries = 1 << 17

// LedgerOptions configures OpenLedger.
type LedgerOptions struct {
	// MaxEntries bounds the ledger; the oldest entries are forgotten
	// beyond it (their files, if still there, are read again at the next
	// start). 0 means DefaultLedgerEntries.
	MaxEntries int
}

// Ledger is a persisted set of the inputs a source has handled, so that a
// restart does not read them again. Entries are keys naming a file's
// identity (path, size, modification time): a file changed in place has a
// new key and is read again.
//
// The file is an append-only log, one quoted key per line, rewritten
// (to a temporary file, synced and renamed over it) when it grows to twice
// the live entries. Add appends; Sync makes the appended lines durable. A
// crash can lose only lines not yet synced, and a torn last line is
// ignored when the file is read. It is safe for concurrent use.
type Ledger struct {
	path string
	max  int

	mu    sync.Mutex
	f     *os.File
	w     *bufio.Writer
	keys  map[string]struct{}
	order []string // keys oldest first; order[head:] are live
	head  int
	lines int // lines in the file
	dirty bool
}

// OpenLedger reads the ledger at path, creating it (and its directory) if
// needed.
func OpenLedger(path string, opts LedgerOptions) (*Ledger, error) {
	l := &Ledger{path: path, max: opts.MaxEntries, keys: make(map[string]struct{})}
	if l.max <= 0 {
		l.max = DefaultLedgerEntries
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("source: ledger: %w", err)
	}
	if err := l.load(); err != nil {
		return nil, err
	}
	if err := l.rewrite(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *Ledger) load() error {
	f, err := os.Open(l.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("source: ledger: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		key, err := strconv.Unquote(sc.Text())
		if err != nil {
			continue // a line torn by a crash
		}
		l.remember(key)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("source: ledger %s: %w", l.path, err)
	}
	return nil
}

// remember adds key in memory, forgetting the oldest beyond the bound.
func (l *Ledger) remember(key string) bool {
	if _, ok := l.keys[key]; ok {
		return false
	}
	l.keys[key] = struct{}{}
	l.order = append(l.order, key)
	for len(l.keys) > l.max {
		delete(l.keys, l.order[l.head])
		l.order[l.head] = ""
		l.head++
	}
	if l.head > len(l.order)/2 {
		l.order = append([]string(nil), l.order[l.head:]...)
		l.head = 0
	}
	return true
}

// rewrite replaces the file with the live entries and reopens it for
// appending.
func (l *Ledger) rewrite() error {
	tmp := l.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("source: ledger: %w", err)
	}
	w := bufio.NewWriter(f)
	for _, k := range l.order[l.head:] {
		w.WriteString(strconv.Quote(k))
		w.WriteByte('\n')
	}
	err = w.Flush()
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, l.path)
	}
	if err == nil {
		err = fsutil.SyncDir(filepath.Dir(l.path))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("source: ledger: rewrite %s: %w", l.path, err)
	}
	if l.f != nil {
		l.f.Close()
	}
	if l.f, err = os.OpenFile(l.path, os.O_APPEND|os.O_WRONLY, 0); err != nil {
		return fmt.Errorf("source: ledger: %w", err)
	}
	l.w = bufio.NewWriter(l.f)
	l.lines = len(l.keys)
	return nil
}

// Has reports whether key has been handled.
func (l *Ledger) Has(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.keys[key]
	return ok
}

// Add records key as handled; Sync makes it durable.
func (l *Ledger) Add(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w == nil || !l.remember(key) {
		return
	}
	l.w.WriteString(strconv.Quote(key))
	l.w.WriteByte('\n')
	l.lines++
	l.dirty = true
}

// Sync writes the keys added since the last Sync to disk and syncs the
// file, compacting it first when it has grown to twice the live entries.
func (l *Ledger) Sync() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.dirty || l.w == nil {
		return nil
	}
	l.dirty = false
	if l.lines > 2*max(len(l.keys), 1024) {
		return l.rewrite()
	}
	if err := l.w.Flush(); err != nil {
		return fmt.Errorf("source: ledger: %w", err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("source: ledger: %w", err)
	}
	return nil
}

// Close syncs and closes the file.
func (l *Ledger) Close() error {
	err := l.Sync()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		if cerr := l.f.Close(); err == nil {
			err = cerr
		}
		l.f, l.w = nil, nil
	}
	return err
}
