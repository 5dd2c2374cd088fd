package outbox

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/ood-agent/ood-agent/agent/internal/fsutil"
)

// Errors that callers may test for with errors.Is.
var (
	// ErrFull is returned by Put when the queue is full and the policy is
	// DropNewest.
	ErrFull = errors.New("outbox: full")
	// ErrClosed is returned by methods called after Close.
	ErrClosed = errors.New("outbox: closed")
	// ErrLocked is returned by Open when another process holds the file.
	ErrLocked = errors.New("outbox: file is locked by another process")
)

// Defaults for zero Options fields.
const (
	DefaultMaxMessages = 10000
	DefaultLockTimeout = time.Second
)

var (
	bucketMessages = []byte("messages")
	bucketMeta     = []byte("meta")
	keyStats       = []byte("stats")
)

// DropPolicy says what Put does when the queue is full.
type DropPolicy int

const (
	// DropOldest deletes the oldest messages to make room for the new one.
	DropOldest DropPolicy = iota
	// DropNewest refuses the new message with ErrFull.
	DropNewest
)

// ParseDropPolicy parses "oldest" or "newest", the values of the
// outbox.drop_policy configuration key.
func ParseDropPolicy(s string) (DropPolicy, error) {
	switch s {
	case "oldest":
		return DropOldest, nil
	case "newest":
		return DropNewest, nil
	}
	return 0, fmt.Errorf("outbox: unknown drop policy %q", s)
}

func (p DropPolicy) String() string {
	switch p {
	case DropOldest:
		return "oldest"
	case DropNewest:
		return "newest"
	}
	return fmt.Sprintf("DropPolicy(%d)", int(p))
}

// Options configures Open. The zero value is usable.
type Options struct {
	// MaxMessages bounds the queue; 0 means DefaultMaxMessages.
	MaxMessages int
	DropPolicy  DropPolicy
	// Logger receives drops, corrupt records and file recovery; nil
	// discards them.
	Logger *slog.Logger
	// LockTimeout is how long Open waits for another process to release
	// the file; 0 means DefaultLockTimeout.
	LockTimeout time.Duration
	// Now returns the current time; nil means time.Now. It stamps messages
	// without a creation time and names files moved aside.
	Now func() time.Time
}

// Message is an MQTT message waiting to be published.
type Message struct {
	ID       string // caller's identifier, e.g. the alert ID
	Topic    string
	Payload  []byte
	QoS      byte
	Retained bool
	Created  time.Time // set by Put if zero
}

// Entry is a queued message and its sequence number, which orders the
// queue and identifies the message to Ack.
type Entry struct {
	Seq     uint64
	Message Message
}

// Stats counts what the queue has done since its file was created; Depth
// is the number of messages it holds now.
type Stats struct {
	Depth   int
	Put     uint64 // messages stored
	Acked   uint64 // messages removed by Ack
	Dropped uint64 // messages lost to a full queue, whether oldest or newest
	Corrupt uint64 // records removed because they could not be decoded
}

// Outbox is a durable, bounded FIFO queue of messages. It is safe for
// concurrent use. Only one process may have a file open at a time.
type Outbox struct {
	db   *bolt.DB
	opts Options
	log  *slog.Logger

	mu     sync.Mutex
	closed bool
	depth  int
	stats  Stats // all but Depth; persisted with every write
	// statsDirty is set when stats changed without a write, as when
	// DropNewest refuses a message; the next write or Close saves them.
	statsDirty bool
	ready      chan struct{} // closed while depth > 0 or after Close
	readyShut  bool
	freed      chan struct{} // closed and replaced whenever depth falls, and at Close
}

// Open opens the queue stored at path, creating it and its directory if
// needed. A file that is not a readable queue is renamed to
// "<path>.corrupt-<unix time>" and replaced by an empty queue. If another
// process has the file open, Open fails with ErrLocked after
// opts.LockTimeout.
func Open(path string, opts Options) (*Outbox, error) {
	if opts.MaxMessages < 0 {
		return nil, fmt.Errorf("outbox: MaxMessages %d is negative", opts.MaxMessages)
	}
	if opts.MaxMessages == 0 {
		opts.MaxMessages = DefaultMaxMessages
	}
	if opts.DropPolicy != DropOldest && opts.DropPolicy != DropNewest {
		return nil, fmt.Errorf("outbox: invalid drop policy %v", opts.DropPolicy)
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = DefaultLockTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	o := &Outbox{opts: opts, log: opts.Logger, ready: make(chan struct{}), freed: make(chan struct{})}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}

	db, depth, stats, err := openFile(path, opts.LockTimeout)
	var ce *corruptError
	if errors.As(err, &ce) {
		aside, rerr := moveAside(path, opts.Now())
		if rerr != nil {
			return nil, fmt.Errorf("outbox: %s is corrupt (%v) and could not be moved aside: %w", path, err, rerr)
		}
		o.log.Error("outbox file is corrupt; moved it aside and started an empty queue",
			"path", path, "moved_to", aside, "err", ce.err)
		db, depth, stats, err = openFile(path, opts.LockTimeout)
	}
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s (waited %v)", ErrLocked, path, opts.LockTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("outbox: open %s: %w", path, err)
	}
	o.db, o.depth, o.stats = db, depth, stats
	// bbolt syncs the file but not its directory entry, which a new or
	// renamed file needs to survive a power cut.
	if err := fsutil.SyncDir(filepath.Dir(path)); err != nil {
		o.log.Warn("outbox could not sync its directory", "dir", filepath.Dir(path), "err", err)
	}
	o.updateReady()
	return o, nil
}

// corruptError marks a file whose contents cannot be used.
type corruptError struct{ err error }

func (e *corruptError) Error() string { return "corrupt file: " + e.err.Error() }
func (e *corruptError) Unwrap() error { return e.err }

// openFile opens the bbolt file, creates the buckets and reads every key
// once, so that damage shows up here, where the file can still be moved
// aside, rather than as a panic later. bbolt panics on some damaged pages;
// those panics are turned into corruptErrors.
func openFile(path string, lockTimeout time.Duration) (db *bolt.DB, depth int, st Stats, err error) {
	defer func() {
		if r := recover(); r != nil {
			if db != nil {
				func() {
					defer func() { _ = recover() }()
					_ = db.Close()
				}()
			}
			db, err = nil, &corruptError{fmt.Errorf("bbolt panic: %v", r)}
		}
	}()
	db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout})
	if err != nil {
		if errors.Is(err, berrors.ErrInvalid) || errors.Is(err, berrors.ErrVersionMismatch) ||
			errors.Is(err, berrors.ErrChecksum) || strings.Contains(err.Error(), "file size too small") {
			err = &corruptError{err}
		}
		return nil, 0, Stats{}, err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		msgs, err := tx.CreateBucketIfNotExists(bucketMessages)
		if err != nil {
			return err
		}
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		c := msgs.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			depth++
		}
		st = decodeStats(meta.Get(keyStats))
		return nil
	})
	if err != nil {
		_ = db.Close()
		if errors.Is(err, berrors.ErrIncompatibleValue) {
			err = &corruptError{err}
		}
		return nil, 0, Stats{}, err
	}
	return db, depth, st, nil
}

// moveAside renames path to a name that no other file has.
func moveAside(path string, now time.Time) (string, error) {
	base := fmt.Sprintf("%s.corrupt-%d", path, now.Unix())
	aside := base
	for i := 1; ; i++ {
		if _, err := os.Lstat(aside); errors.Is(err, os.ErrNotExist) {
			break
		}
		aside = fmt.Sprintf("%s.%d", base, i)
	}
	return aside, os.Rename(path, aside)
}

// Put durably appends one message; see PutAll.
func (o *Outbox) Put(msg Message) (dropped int, err error) {
	return o.PutAll([]Message{msg})
}

// PutAll durably appends messages in order, in one transaction and so with
// one disk sync: a producer that has several messages at hand (a burst of
// alerts) pays for one write. When the outbox is full, DropOldest deletes
// the oldest stored messages to make room and DropNewest rejects the
// messages that do not fit, returning ErrFull; either way dropped counts
// them.
func (o *Outbox) PutAll(msgs []Message) (dropped int, err error) {
	recs := make([][]byte, len(msgs))
	for i := range msgs {
		if msgs[i].Created.IsZero() {
			msgs[i].Created = o.opts.Now()
		}
		if recs[i], err = encode(nil, &msgs[i]); err != nil {
			return 0, fmt.Errorf("outbox: put: %w", err)
		}
	}

	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return 0, ErrClosed
	}
	limit := o.opts.MaxMessages
	st := o.stats
	depth := o.depth
	var droppedSeqs []uint64
	rejected := 0
	err = o.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMessages)
		c := b.Cursor()
		for i, rec := range recs {
			if depth >= limit && o.opts.DropPolicy == DropNewest {
				rejected++
				o.log.Warn("outbox full; dropped the new message",
					"id", msgs[i].ID, "topic", msgs[i].Topic, "max_messages", limit)
				continue
			}
			for ; depth >= limit; depth-- {
				k, _ := c.First()
				if k == nil {
					break
				}
				droppedSeqs = append(droppedSeqs, seqOf(k))
				if err := c.Delete(); err != nil {
					return err
				}
			}
			seq, err := b.NextSequence()
			if err != nil {
				return err
			}
			if err := b.Put(seqKey(seq), rec); err != nil {
				return err
			}
			depth++
			st.Put++
		}
		st.Dropped += uint64(len(droppedSeqs) + rejected)
		return putStats(tx, st)
	})
	if err != nil {
		return 0, fmt.Errorf("outbox: put: %w", err)
	}
	o.stats, o.statsDirty = st, false
	o.depth = depth
	if len(droppedSeqs) > 0 {
		o.log.Warn("outbox full; dropped the oldest messages",
			"count", len(droppedSeqs), "seqs", droppedSeqs, "max_messages", limit)
	}
	o.updateReady()
	if rejected > 0 {
		return len(droppedSeqs) + rejected, ErrFull
	}
	return len(droppedSeqs), nil
}

// Peek returns up to n messages, oldest first, without removing them.
// Records that cannot be decoded are logged, counted in Stats.Corrupt and
// deleted, so that they never block the queue.
func (o *Outbox) Peek(n int) ([]Entry, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil, ErrClosed
	}
	if n <= 0 {
		return nil, nil
	}
	var (
		out []Entry
		bad [][]byte
	)
	err := o.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketMessages).Cursor()
		for k, v := c.First(); k != nil && len(out) < n; k, v = c.Next() {
			var err error
			var msg Message
			switch {
			case len(k) != 8:
				err = fmt.Errorf("%w: key of %d bytes", errRecord, len(k))
			case v == nil:
				err = fmt.Errorf("%w: nested bucket", errRecord)
			default:
				msg, err = decode(v)
			}
			if err != nil {
				o.log.Error("outbox removing undecodable record", "key", fmt.Sprintf("%x", k), "err", err)
				bad = append(bad, append([]byte(nil), k...))
				continue
			}
			out = append(out, Entry{Seq: seqOf(k), Message: msg})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("outbox: peek: %w", err)
	}
	if len(bad) > 0 {
		o.removeCorrupt(bad)
	}
	return out, nil
}

// removeCorrupt deletes records that failed to decode. A failure is only
// logged: the records are found again by the next Peek.
func (o *Outbox) removeCorrupt(keys [][]byte) {
	st := o.stats
	err := o.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMessages)
		for _, k := range keys {
			err := b.Delete(k)
			if errors.Is(err, berrors.ErrIncompatibleValue) {
				err = b.DeleteBucket(k)
			}
			if err != nil {
				return err
			}
		}
		st.Corrupt += uint64(len(keys))
		return putStats(tx, st)
	})
	if err != nil {
		o.log.Error("outbox could not remove undecodable records", "count", len(keys), "err", err)
		return
	}
	o.stats, o.statsDirty = st, false
	o.depth -= len(keys)
	o.updateReady()
	o.signalFreedLocked()
}

// Ack removes the message with sequence number seq, once the broker has
// acknowledged it. Acknowledging a message that is not queued, such as
// one already acknowledged or dropped, does nothing.
func (o *Outbox) Ack(seq uint64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return ErrClosed
	}
	tx, err := o.db.Begin(true)
	if err != nil {
		return fmt.Errorf("outbox: ack %d: %w", seq, err)
	}
	b := tx.Bucket(bucketMessages)
	k := seqKey(seq)
	if b.Get(k) == nil {
		return tx.Rollback() // no write, so no sync
	}
	st := o.stats
	st.Acked++
	err = b.Delete(k)
	if err == nil {
		err = putStats(tx, st)
	}
	if err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("outbox: ack %d: %w", seq, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("outbox: ack %d: %w", seq, err)
	}
	o.stats, o.statsDirty = st, false
	o.depth--
	o.updateReady()
	o.signalFreedLocked()
	return nil
}

// Len returns the number of queued messages.
func (o *Outbox) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.depth
}

// Stats returns the queue's counters.
func (o *Outbox) Stats() Stats {
	o.mu.Lock()
	defer o.mu.Unlock()
	st := o.stats
	st.Depth = o.depth
	return st
}

// Notify returns a channel that is closed while the queue holds a message,
// and after Close. A sender waits on it, then Peeks; once it has drained
// the queue it calls Notify again for a fresh channel.
func (o *Outbox) Notify() <-chan struct{} {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.ready
}

// Wait blocks until the queue holds a message, the context is done, or
// the outbox is closed, in which case it returns ErrClosed.
func (o *Outbox) Wait(ctx context.Context) error {
	select {
	case <-o.Notify():
	case <-ctx.Done():
		return ctx.Err()
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return ErrClosed
	}
	return nil
}

// signalFreedLocked wakes the waiters for room; o.mu is held.
func (o *Outbox) signalFreedLocked() {
	close(o.freed)
	o.freed = make(chan struct{})
}

// MaxMessages returns the queue's capacity.
func (o *Outbox) MaxMessages() int { return o.opts.MaxMessages }

// WaitRoom blocks until n more messages fit without a drop, the context
// is done, or the outbox is closed (ErrClosed). A producer that must not
// lose messages — a directory whose files can all wait — calls it before
// PutAll, so that a full queue slows the producer down instead of
// dropping what it holds. An empty queue always has room, even for more
// than its capacity.
func (o *Outbox) WaitRoom(ctx context.Context, n int) error {
	return o.waitDepth(ctx, func(depth int) bool { return depth == 0 || depth+n <= o.opts.MaxMessages })
}

// WaitEmpty blocks until every queued message has been acknowledged, the
// context is done, or the outbox is closed (ErrClosed).
func (o *Outbox) WaitEmpty(ctx context.Context) error {
	return o.waitDepth(ctx, func(depth int) bool { return depth == 0 })
}

func (o *Outbox) waitDepth(ctx context.Context, ok func(depth int) bool) error {
	for {
		o.mu.Lock()
		closed, depth, freed := o.closed, o.depth, o.freed
		o.mu.Unlock()
		switch {
		case closed:
			return ErrClosed
		case ok(depth):
			return nil
		}
		select {
		case <-freed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// updateReady keeps the Notify channel in step with depth; o.mu is held.
func (o *Outbox) updateReady() {
	want := o.depth > 0 || o.closed
	switch {
	case want && !o.readyShut:
		close(o.ready)
		o.readyShut = true
	case !want && o.readyShut:
		o.ready = make(chan struct{})
		o.readyShut = false
	}
}

// Close saves the counters and closes the file. Waiters wake up with
// ErrClosed.
func (o *Outbox) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil
	}
	o.closed = true
	o.updateReady()
	o.signalFreedLocked()
	var errs []error
	if o.statsDirty {
		st := o.stats
		if err := o.db.Update(func(tx *bolt.Tx) error { return putStats(tx, st) }); err != nil {
			errs = append(errs, fmt.Errorf("outbox: save stats: %w", err))
		}
	}
	if err := o.db.Close(); err != nil {
		errs = append(errs, fmt.Errorf("outbox: close: %w", err))
	}
	return errors.Join(errs...)
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

func seqOf(k []byte) uint64 { return binary.BigEndian.Uint64(k) }

// The counters are stored as four big-endian uint64s: put, acked,
// dropped, corrupt. Shorter values, from damage, read as zero counters.
func putStats(tx *bolt.Tx, st Stats) error {
	b := make([]byte, 0, 32)
	for _, v := range []uint64{st.Put, st.Acked, st.Dropped, st.Corrupt} {
		b = binary.BigEndian.AppendUint64(b, v)
	}
	return tx.Bucket(bucketMeta).Put(keyStats, b)
}

func decodeStats(b []byte) Stats {
	if len(b) < 32 {
		return Stats{}
	}
	u := func(i int) uint64 { return binary.BigEndian.Uint64(b[8*i:]) }
	return Stats{Put: u(0), Acked: u(1), Dropped: u(2), Corrupt: u(3)}
}
