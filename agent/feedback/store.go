package feedback

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ood-agent/ood-agent/agent/internal/fsutil"
)

// Options configures a Store. Zero values take the defaults below.
type Options struct {
	// Dir is the store's directory, normally <state dir>/feedback.
	Dir string
	// MaxFlagged bounds the flagged frames kept; the oldest go first.
	MaxFlagged int
	// MaxBytes bounds the store's files. Reservoir samples may use a
	// quarter of it, flagged frames the rest.
	MaxBytes int64
	// Reservoir is the number of unflagged frames sampled (0: default,
	// negative: none).
	Reservoir int
	// Precision of the stored logits and features.
	Precision Precision
	// Evidence keeps the JPEG of flagged frames when the record has one.
	Evidence bool
	// Log receives warnings about damaged files.
	Log *slog.Logger
	// Seed seeds the reservoir's random draws; 0 picks one.
	Seed uint64
	// Now stamps labels; time.Now when nil.
	Now func() time.Time
	// NoTrim opens the store without enforcing the bounds on what it
	// holds, for tools (the feedback command) that label and export what
	// the agent stored under its own, possibly larger, bounds.
	NoTrim bool
}

// The defaults.
const (
	DefaultMaxFlagged = 500
	DefaultMaxBytes   = 64 << 20
	DefaultReservoir  = 200
)

// Kind is an operator's verdict on an alert.
type Kind string

// The verdicts.
const (
	// FalseAlarm: the frame was in-distribution after all.
	FalseAlarm Kind = "false_alarm"
	// Confirmed: the frame was out-of-distribution.
	Confirmed Kind = "confirmed"
)

// ErrUnknownAlert is returned by Label for an alert the store does not
// hold (never flagged here, or evicted).
var ErrUnknownAlert = errors.New("alert not in the feedback store")

// LabelInfo is a stored verdict.
type LabelInfo struct {
	AlertID string    `json:"alert_id"`
	Kind    Kind      `json:"kind"`
	Class   string    `json:"class,omitempty"`
	Time    time.Time `json:"time"`
}

// Entry describes a flagged frame: its record without the vectors, and
// its label when it has one.
type Entry struct {
	Record
	HasJPEG bool
	Label   *LabelInfo
	bytes   int64
}

// Store is the on-disk feedback store. Its methods are safe for
// concurrent use. Labels are files read on every List and Export, so the
// CLI can label alerts while the agent runs.
type Store struct {
	opts Options
	log  *slog.Logger

	mu           sync.Mutex
	buf          []byte
	flagged      []Entry // oldest first
	flaggedBytes int64

	// Reservoir sampling (Algorithm R): seen counts the frames offered,
	// slot i holds one of them with probability k/seen.
	rng       *rand.Rand
	seen      uint64
	slotBytes []int64
	resBytes  int64
}

// Open opens or creates the store in opts.Dir, skipping (and removing)
// damaged records with a warning.
func Open(opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, errors.New("feedback: no directory")
	}
	if opts.MaxFlagged <= 0 {
		opts.MaxFlagged = DefaultMaxFlagged
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.Reservoir == 0 {
		opts.Reservoir = DefaultReservoir
	}
	opts.Reservoir = max(opts.Reservoir, 0)
	if opts.Precision != Float32 && opts.Precision != Float16 {
		return nil, fmt.Errorf("feedback: unknown precision %d", opts.Precision)
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	seed := opts.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	s := &Store{opts: opts, log: opts.Log.With("component", "feedback"), rng: newRand(seed),
		slotBytes: make([]int64, opts.Reservoir)}
	for _, d := range []string{flaggedDir, labelsDir, reservoirDir} {
		if err := os.MkdirAll(filepath.Join(opts.Dir, d), 0o750); err != nil {
			return nil, fmt.Errorf("feedback: %w", err)
		}
	}
	if err := s.loadFlagged(); err != nil {
		return nil, err
	}
	if err := s.loadReservoir(); err != nil {
		return nil, err
	}
	return s, nil
}

const (
	flaggedDir   = "flagged"
	labelsDir    = "labels"
	reservoirDir = "reservoir"
	stateFile    = "state.json"
	recExt       = ".rec"
	jpgExt       = ".jpg"
)

func (s *Store) path(parts ...string) string {
	return filepath.Join(append([]string{s.opts.Dir}, parts...)...)
}

// Dir is the store's directory in an agent state directory.
func Dir(stateDir string) string { return filepath.Join(stateDir, "feedback") }

// checkID keeps ids usable as file names on every platform.
func checkID(id string) error {
	if id == "" || len(id) > 128 {
		return fmt.Errorf("feedback: alert id must be 1 to 128 bytes, got %d", len(id))
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') || id[0] == '.' {
			return fmt.Errorf("feedback: alert id %q: only letters, digits, '-', '_' and '.' (not first)", id)
		}
	}
	return nil
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

// readRecord reads and decodes one record file.
func readRecord(path string) (Record, int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Record{}, 0, err
	}
	r, err := decodeRecord(data)
	return r, int64(len(data)), err
}

// discard removes a damaged record and the files that go with it.
func (s *Store) discard(base string, err error) {
	s.log.Warn("feedback record skipped", "file", base+recExt, "err", err)
	os.Remove(base + recExt)
	os.Remove(base + jpgExt)
}

func (s *Store) loadFlagged() error {
	dir := s.path(flaggedDir)
	names, err := listDir(dir)
	if err != nil {
		return err
	}
	recs := map[string]bool{}
	for _, name := range names {
		id, ok := strings.CutSuffix(name, recExt)
		if !ok {
			continue
		}
		base := filepath.Join(dir, id)
		r, size, err := readRecord(base + recExt)
		if err == nil && r.AlertID != id {
			err = fmt.Errorf("%w: holds alert %q", errCorrupt, r.AlertID)
		}
		if err != nil {
			s.discard(base, err)
			continue
		}
		r.Logits, r.Features = nil, nil
		e := Entry{Record: r, bytes: size}
		if st, err := os.Stat(base + jpgExt); err == nil {
			e.HasJPEG, e.bytes = true, e.bytes+st.Size()
		}
		recs[id] = true
		s.flagged = append(s.flagged, e)
		s.flaggedBytes += e.bytes
	}
	for _, name := range names { // evidence whose record never landed
		if id, ok := strings.CutSuffix(name, jpgExt); ok && !recs[id] {
			os.Remove(filepath.Join(dir, name))
		}
	}
	slices.SortStableFunc(s.flagged, func(a, b Entry) int {
		return cmp.Or(a.Time.Compare(b.Time), strings.Compare(a.AlertID, b.AlertID))
	})
	if !s.opts.NoTrim {
		s.evictFlagged(0)
		s.dropOrphanLabels()
	}
	return nil
}

// dropOrphanLabels removes the labels of alerts the store no longer
// holds: the CLI may label an alert while the agent evicts it.
func (s *Store) dropOrphanLabels() {
	names, err := listDir(s.path(labelsDir))
	if err != nil {
		s.log.Warn("feedback labels not listed", "err", err)
		return
	}
	for _, name := range names {
		if id, _ := strings.CutSuffix(name, ".json"); s.find(id) < 0 {
			os.Remove(s.path(labelsDir, name))
		}
	}
}

// listDir lists dir's file names, removing the temporary files (".*")
// an interrupted atomic write left behind.
func listDir(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("feedback: %w", err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			os.Remove(filepath.Join(dir, e.Name()))
			continue
		}
		names = append(names, e.Name())
	}
	return names, nil
}

type reservoirState struct {
	Seen uint64 `json:"seen"`
}

func (s *Store) loadReservoir() error {
	dir := s.path(reservoirDir)
	if data, err := os.ReadFile(filepath.Join(dir, stateFile)); err == nil {
		var st reservoirState
		if err := json.Unmarshal(data, &st); err != nil {
			s.log.Warn("feedback reservoir state unreadable, counting from the samples", "err", err)
		}
		s.seen = st.Seen
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("feedback: %w", err)
	}
	names, err := listDir(dir)
	if err != nil {
		return err
	}
	filled := uint64(0)
	for _, name := range names {
		slotName, ok := strings.CutSuffix(name, recExt)
		if !ok {
			continue
		}
		base := filepath.Join(dir, slotName)
		slot, err := strconv.Atoi(slotName)
		if err == nil && s.opts.NoTrim && slot >= len(s.slotBytes) && slot < 1<<20 {
			s.slotBytes = append(s.slotBytes, make([]int64, slot+1-len(s.slotBytes))...)
		}
		if err != nil || slot < 0 || slot >= len(s.slotBytes) {
			os.Remove(base + recExt) // the reservoir was made smaller
			os.Remove(base + jpgExt)
			continue
		}
		_, size, err := readRecord(base + recExt)
		if err != nil {
			s.discard(base, err)
			continue
		}
		if st, err := os.Stat(base + jpgExt); err == nil {
			size += st.Size()
		}
		s.slotBytes[slot] = size
		s.resBytes += size
		filled++
	}
	// The count is saved when a sample is kept, so a crash loses only the
	// frames passed over since; it is never below the samples held.
	s.seen = max(s.seen, filled)
	return nil
}

// AddFlagged stores a flagged frame, evicting the oldest ones beyond the
// bounds. A frame with the id of a stored one replaces it.
func (s *Store) AddFlagged(r Record) error {
	if err := checkID(r.AlertID); err != nil {
		return err
	}
	if !s.opts.Evidence {
		r.JPEG = nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	s.buf, err = appendRecord(s.buf[:0], &r, s.opts.Precision)
	if err != nil {
		return fmt.Errorf("feedback: alert %s: %w", r.AlertID, err)
	}
	size := int64(len(s.buf) + len(r.JPEG))
	if size > s.flaggedLimit() {
		return fmt.Errorf("feedback: alert %s: record of %d bytes exceeds the store's %d", r.AlertID, size, s.flaggedLimit())
	}
	if i := s.find(r.AlertID); i >= 0 {
		s.remove(i)
	}
	s.evictFlagged(size)
	base := s.path(flaggedDir, r.AlertID)
	// The JPEG goes first: the record is what makes the frame exist.
	if r.JPEG != nil {
		if err := fsutil.WriteFile(base+jpgExt, r.JPEG, 0o640); err != nil {
			return fmt.Errorf("feedback: %w", err)
		}
	}
	if err := fsutil.WriteFile(base+recExt, s.buf, 0o640); err != nil {
		os.Remove(base + jpgExt)
		return fmt.Errorf("feedback: %w", err)
	}
	meta := r
	meta.Logits, meta.Features, meta.JPEG = nil, nil, nil
	s.flagged = append(s.flagged, Entry{Record: meta, HasJPEG: r.JPEG != nil, bytes: size})
	s.flaggedBytes += size
	return nil
}

func (s *Store) flaggedLimit() int64 { return s.opts.MaxBytes - s.reservoirLimit() }

func (s *Store) reservoirLimit() int64 {
	if s.opts.Reservoir == 0 {
		return 0
	}
	return s.opts.MaxBytes / 4
}

func (s *Store) find(id string) int {
	return slices.IndexFunc(s.flagged, func(e Entry) bool { return e.AlertID == id })
}

// evictFlagged removes the oldest frames until one more of incoming
// bytes fits.
func (s *Store) evictFlagged(incoming int64) {
	for len(s.flagged) > 0 && (len(s.flagged) >= s.opts.MaxFlagged+boolInt(incoming == 0) || s.flaggedBytes+incoming > s.flaggedLimit()) {
		s.remove(0)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (s *Store) remove(i int) {
	e := s.flagged[i]
	base := s.path(flaggedDir, e.AlertID)
	if err := os.Remove(base + recExt); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Warn("feedback record not removed", "alert_id", e.AlertID, "err", err)
	}
	os.Remove(base + jpgExt)
	os.Remove(s.path(labelsDir, e.AlertID+".json"))
	s.flagged = slices.Delete(s.flagged, i, i+1)
	s.flaggedBytes -= e.bytes
}

// Ticket is a reservoir draw: the slot a frame would replace, or none.
type Ticket int

// Keep reports whether the frame drawn for is to be kept.
func (t Ticket) Keep() bool { return t >= 0 }

// Draw counts one unflagged frame and decides, by Algorithm R, whether the
// reservoir keeps it. It does not allocate, so the runner can call it on
// every frame and only build the record (and its JPEG) when Keep is true.
func (s *Store) Draw() Ticket {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := uint64(len(s.slotBytes))
	if k == 0 {
		return -1
	}
	s.seen++
	if s.seen <= k {
		return Ticket(s.seen - 1)
	}
	if j := s.rng.Uint64N(s.seen); j < k {
		return Ticket(j)
	}
	return -1
}

// Fill stores r in the slot t drew. A sample that does not fit the
// reservoir's share of MaxBytes is dropped (and the slot keeps its old
// sample).
func (s *Store) Fill(t Ticket, r Record) error {
	if !t.Keep() {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	slot := int(t)
	if slot >= len(s.slotBytes) {
		return fmt.Errorf("feedback: reservoir slot %d out of range", slot)
	}
	if r.AlertID == "" {
		r.AlertID = "kept-" + strconv.FormatUint(s.seen, 10)
	}
	var err error
	s.buf, err = appendRecord(s.buf[:0], &r, s.opts.Precision)
	if err != nil {
		return fmt.Errorf("feedback: reservoir: %w", err)
	}
	size := int64(len(s.buf) + len(r.JPEG))
	if s.resBytes-s.slotBytes[slot]+size > s.reservoirLimit() {
		return nil
	}
	base := s.path(reservoirDir, strconv.Itoa(slot))
	if r.JPEG != nil {
		if err := fsutil.WriteFile(base+jpgExt, r.JPEG, 0o640); err != nil {
			return fmt.Errorf("feedback: %w", err)
		}
	} else {
		os.Remove(base + jpgExt)
	}
	if err := fsutil.WriteFile(base+recExt, s.buf, 0o640); err != nil {
		return fmt.Errorf("feedback: %w", err)
	}
	s.resBytes += size - s.slotBytes[slot]
	s.slotBytes[slot] = size
	return s.saveSeen()
}

// OfferUnflagged is Draw and Fill in one, for callers that have the
// record at hand anyway.
func (s *Store) OfferUnflagged(r Record) error { return s.Fill(s.Draw(), r) }

func (s *Store) saveSeen() error {
	data, _ := json.Marshal(reservoirState{Seen: s.seen})
	if err := fsutil.WriteFile(s.path(reservoirDir, stateFile), data, 0o640); err != nil {
		return fmt.Errorf("feedback: %w", err)
	}
	return nil
}

// Close saves the reservoir's count of frames seen.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.slotBytes) == 0 {
		return nil
	}
	return s.saveSeen()
}

// Seen is the number of unflagged frames offered to the reservoir.
func (s *Store) Seen() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen
}

// Label records an operator's verdict on a stored alert. class, the true
// class of a false alarm (a label name or a class index), is optional;
// a confirmed alert has none. A new verdict replaces the old one.
func (s *Store) Label(alertID string, kind Kind, class string) (LabelInfo, error) {
	if err := checkID(alertID); err != nil {
		return LabelInfo{}, err
	}
	switch {
	case kind != FalseAlarm && kind != Confirmed:
		return LabelInfo{}, fmt.Errorf("feedback: label %q: want %s or %s", kind, FalseAlarm, Confirmed)
	case kind == Confirmed && class != "":
		return LabelInfo{}, fmt.Errorf("feedback: a confirmed alert has no class (got %q)", class)
	case strings.ContainsAny(class, `/\`) || class == "." || class == ".." || len(class) > 128:
		return LabelInfo{}, fmt.Errorf("feedback: class %q is not a usable directory name", class)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.find(alertID) < 0 {
		return LabelInfo{}, fmt.Errorf("feedback: %s: %w", alertID, ErrUnknownAlert)
	}
	l := LabelInfo{AlertID: alertID, Kind: kind, Class: class, Time: s.opts.Now().UTC()}
	data, _ := json.Marshal(l)
	if err := fsutil.WriteFile(s.path(labelsDir, alertID+".json"), data, 0o640); err != nil {
		return LabelInfo{}, fmt.Errorf("feedback: %w", err)
	}
	return l, nil
}

func (s *Store) readLabel(id string) *LabelInfo {
	data, err := os.ReadFile(s.path(labelsDir, id+".json"))
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("feedback label unreadable", "alert_id", id, "err", err)
		}
		return nil
	}
	var l LabelInfo
	if err := json.Unmarshal(data, &l); err != nil || l.AlertID != id || (l.Kind != FalseAlarm && l.Kind != Confirmed) {
		s.log.Warn("feedback label skipped", "alert_id", id, "err", err)
		return nil
	}
	return &l
}

// List returns the flagged frames, newest first, with their labels.
func (s *Store) List() []Entry {
	s.mu.Lock()
	out := slices.Clone(s.flagged)
	s.mu.Unlock()
	slices.Reverse(out)
	for i := range out {
		out[i].Label = s.readLabel(out[i].AlertID)
	}
	return out
}
