package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/ood-agent/ood-agent/agent/clock"
)

// DirOptions configures a Dir source.
type DirOptions struct {
	// Path is the directory to read.
	Path string
	// Pattern is a glob (path/filepath.Match syntax) matched against file
	// names; empty matches all. Whatever the pattern, only names ending in
	// .png, .jpg, .jpeg, .bmp, .gif or .webp (ignoring case) are read, and names starting with
	// a dot, often temporary files, never are.
	Pattern string
	// Watch keeps watching the directory for new files after the existing
	// ones have been read.
	Watch bool
	// Recursive descends into subdirectories (and, with Watch, into ones
	// created later).
	Recursive bool
	// MaxBytes is the largest file read; larger ones are skipped. Zero
	// means 32 MiB.
	MaxBytes int64
	// Settle is how long a new file must stay unchanged before it is read.
	// Zero means 100ms.
	Settle time.Duration
	// IncompleteTimeout is how long a watched file that is still not a
	// complete image is waited for before it is skipped. Zero means 10s.
	IncompleteTimeout time.Duration
	// Ledger, if set, remembers the files handled across restarts: a
	// file whose path, size and modification time are in it is not read
	// again. The Dir records the files it skips; the consumer records
	// the frames it has handled (Frame.Key), once their results are safe.
	Ledger *Ledger
	// Clock is for tests; nil means the system clock.
	Clock clock.Clock
}

// ErrDirRemoved is returned by Dir.Next when the watched directory itself
// is removed or renamed.
var ErrDirRemoved = errors.New("source: directory removed")

// Dir is a source that reads image files (PNG, JPEG, BMP, GIF, WebP) from
// a directory: the existing ones in name order, then, when watching, new
// ones as they are completely written.
//
// Linux reports no "closed after writing" event through fsnotify, so a
// new or changed file is read once its size and modification time have not
// changed and no event has arrived for it for Settle. Because a writer may
// pause longer than that, the file must also parse as a complete image (a
// PNG up to IEND, a JPEG up to EOI, a GIF up to its trailer, a BMP or WebP
// as long as its header says); if it does not, it is read again when
// it next changes, and skipped if it stays incomplete for
// IncompleteTimeout. Files moved into the directory arrive as creations and
// are handled the same way; writing to a temporary name and renaming is
// the most reliable way to hand files over.
//
// A file is returned once per version: one changed in place after it has
// been read (a camera overwriting snapshot.jpg) is read again once it has
// settled, as is a path removed and created anew. With a Ledger, the
// files handled before a restart are not read again unless they changed.
type Dir struct {
	log       *slog.Logger
	root      string
	pattern   string
	watch     bool
	recursive bool
	maxBytes  int64
	settle    time.Duration
	patience  time.Duration
	w         *fsnotify.Watcher // nil unless watching
	clock     clock.Clock
	timer     clock.Timer
	nextCheck time.Time // of the pending files; zero when not scheduled
	ready     []string  // paths to read next, in order
	pending   map[string]*pendingFile
	seen      map[string]fileVersion // the version of each path last read or skipped
	ignored   map[string]bool        // paths logged as ignored
	ledger    *Ledger
	seq       uint64
	counters

	closeOnce sync.Once
	done      chan struct{} // closed by Close
}

// fileVersion tells versions of a file apart.
type fileVersion struct {
	size int64
	mod  time.Time
}

func versionOf(info fs.FileInfo) fileVersion { return fileVersion{info.Size(), info.ModTime()} }

// key is the file version's identity across restarts (Frame.Key).
func (v fileVersion) key(path string) string {
	return fmt.Sprintf("dir:%s|%d|%d", path, v.size, v.mod.UnixNano())
}

// handled reports whether this version of path was read or skipped,
// in this run or (with a ledger) before.
func (d *Dir) handled(path string, v fileVersion) bool {
	if s, ok := d.seen[path]; ok && s.size == v.size && s.mod.Equal(v.mod) {
		return true
	}
	return d.ledger != nil && d.ledger.Has(v.key(path))
}

// pendingFile is a file waiting to be completely written.
type pendingFile struct {
	size       int64
	mod        time.Time
	changed    time.Time // last event or change in size or time
	incomplete bool      // read, but not yet a complete image
}

// NewDir returns a Dir source. The directory must exist. A nil log
// discards.
func NewDir(opts DirOptions, log *slog.Logger) (*Dir, error) {
	if opts.Path == "" {
		return nil, errors.New("source: dir path is empty")
	}
	if _, err := filepath.Match(opts.Pattern, ""); err != nil {
		return nil, fmt.Errorf("source: dir pattern %q: %w", opts.Pattern, err)
	}
	root := filepath.Clean(opts.Path)
	info, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("source: dir: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("source: dir: %s is not a directory", root)
	}
	d := &Dir{
		log:       orDiscard(log).With("source", "dir", "path", root),
		root:      root,
		pattern:   opts.Pattern,
		watch:     opts.Watch,
		recursive: opts.Recursive,
		maxBytes:  orDefault(opts.MaxBytes, 32<<20),
		settle:    orDefault(opts.Settle, 100*time.Millisecond),
		patience:  orDefault(opts.IncompleteTimeout, 10*time.Second),
		pending:   make(map[string]*pendingFile),
		seen:      make(map[string]fileVersion),
		ignored:   make(map[string]bool),
		ledger:    opts.Ledger,
		clock:     clock.OrReal(opts.Clock),
		done:      make(chan struct{}),
	}
	if d.watch {
		// Watch before listing, so that no file created meanwhile is
		// missed; one seen twice is read once.
		if d.w, err = fsnotify.NewWatcher(); err != nil {
			return nil, fmt.Errorf("source: dir watch: %w", err)
		}
		d.timer = d.clock.NewTimer(time.Hour)
		d.timer.Stop()
	}
	if err := d.scan(root, func(path string, _ fs.FileInfo) { d.ready = append(d.ready, path) }); err != nil {
		if d.w != nil {
			d.w.Close()
		}
		return nil, err
	}
	slices.Sort(d.ready)
	return d, nil
}

// orDefault returns v, or def when v is not positive.
func orDefault[T int64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// scan lists the candidate files under dir, watching the directories
// visited when watching.
func (d *Dir) scan(dir string, found func(string, fs.FileInfo)) error {
	return filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			if path == dir {
				return fmt.Errorf("source: dir: %w", err)
			}
			d.log.Warn("cannot list", "dir", path, "err", err)
			return nil
		}
		if e.IsDir() {
			if path != dir && (!d.recursive || strings.HasPrefix(e.Name(), ".")) {
				return filepath.SkipDir
			}
			if d.w != nil {
				if err := d.w.Add(path); err != nil {
					if path == dir {
						return fmt.Errorf("source: dir watch: %w", err)
					}
					d.log.Warn("cannot watch", "dir", path, "err", err)
				}
			}
			return nil
		}
		if !d.match(path) {
			return nil
		}
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() && info.Mode()&fs.ModeSymlink == 0 {
			return nil
		}
		found(path, info)
		return nil
	})
}

// match reports whether path is a file to read. Files passed over are
// logged with the reason, once per path: hidden names (temporary files)
// at debug level, the others at info, since an operator who drops a .bmp
// into the inbox wants to know why nothing happens.
func (d *Dir) match(path string) bool {
	name := filepath.Base(path)
	var why string
	level := slog.LevelInfo
	switch ext := strings.ToLower(filepath.Ext(name)); {
	case strings.HasPrefix(name, "."):
		why, level = "hidden name (a temporary file?)", slog.LevelDebug
	case !isImageExt(ext):
		why = "not an image file name (.png, .jpg, .jpeg, .bmp, .gif, .webp)"
	case d.pattern != "":
		if ok, _ := filepath.Match(d.pattern, name); !ok {
			why = fmt.Sprintf("name does not match source.dir.pattern %q", d.pattern)
		}
	}
	if why == "" {
		return true
	}
	if !d.ignored[path] {
		if len(d.ignored) >= maxIgnoredLogged {
			clear(d.ignored)
		}
		d.ignored[path] = true
		d.log.Log(context.Background(), level, "ignoring file", "file", path, "reason", why)
	}
	return false
}

// isImageExt reports whether files with the (lower-case) extension ext
// are read.
func isImageExt(ext string) bool {
	switch ext {
	case ".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp":
		return true
	}
	return false
}

// maxIgnoredLogged bounds the memory of ignored files already logged.
const maxIgnoredLogged = 4096

// Live reports false: every file is processed.
func (d *Dir) Live() bool { return false }

// Counts returns the files skipped and the watcher errors.
func (d *Dir) Counts() Counts { return d.counters.Counts() }

// Close stops watching.
func (d *Dir) Close() error {
	var err error
	d.closeOnce.Do(func() {
		close(d.done)
		if d.w != nil {
			err = d.w.Close()
		}
	})
	return err
}

// Next returns the next file. Without Watch it returns io.EOF once the
// existing files have been read; with Watch it waits for new ones.
func (d *Dir) Next(ctx context.Context) (Frame, error) {
	for {
		if err := ctx.Err(); err != nil {
			return Frame{}, err
		}
		select {
		case <-d.done:
			return Frame{}, ErrClosed
		default:
		}
		if len(d.ready) > 0 {
			path := d.ready[0]
			d.ready = d.ready[1:]
			if f, ok := d.load(path); ok {
				return f, nil
			}
			continue
		}
		if !d.watch {
			return Frame{}, io.EOF
		}
		if err := d.wait(ctx); err != nil {
			return Frame{}, err
		}
	}
}

// wait handles one watcher event or pending-file check.
func (d *Dir) wait(ctx context.Context) error {
	var tick <-chan time.Time
	if len(d.pending) > 0 {
		// The check is scheduled once, not each time through here, so that
		// a steady stream of events (a large file being written) cannot
		// postpone it forever.
		if d.nextCheck.IsZero() {
			d.nextCheck = d.clock.Now().Add(max(d.settle/2, time.Millisecond))
		}
		d.timer.Reset(d.nextCheck.Sub(d.clock.Now()))
		tick = d.timer.C()
		defer d.timer.Stop()
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-d.done:
		return ErrClosed
	case ev, ok := <-d.w.Events:
		if !ok {
			return ErrClosed
		}
		return d.event(ev)
	case err, ok := <-d.w.Errors:
		if !ok {
			return ErrClosed
		}
		d.errors.Add(1)
		d.log.Warn("watch error", "err", err)
		if errors.Is(err, fsnotify.ErrEventOverflow) {
			// Events were lost: list everything again.
			return d.scan(d.root, func(path string, info fs.FileInfo) { d.addPending(path, info) })
		}
	case <-tick:
		d.nextCheck = time.Time{}
		d.checkPending()
	}
	return nil
}

func (d *Dir) event(ev fsnotify.Event) error {
	path := filepath.Clean(ev.Name)
	if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		if path == d.root {
			return fmt.Errorf("%w: %s", ErrDirRemoved, d.root)
		}
		delete(d.pending, path)
		delete(d.seen, path)
		delete(d.ignored, path)
		return nil
	}
	if !ev.Has(fsnotify.Create) && !ev.Has(fsnotify.Write) {
		return nil
	}
	if p := d.pending[path]; p != nil && !ev.Has(fsnotify.Create) {
		// A file being written sends a burst of these: skip the stat.
		p.changed, p.incomplete = d.clock.Now(), false
		return nil
	}
	info, err := os.Stat(path)
	if err != nil {
		return nil // gone already
	}
	if info.IsDir() {
		if ev.Has(fsnotify.Create) && d.recursive && path != d.root && !strings.HasPrefix(info.Name(), ".") {
			// Files may have been created in it before it was watched.
			if err := d.scan(path, func(path string, info fs.FileInfo) { d.addPending(path, info) }); err != nil {
				d.log.Warn("cannot scan new directory", "dir", path, "err", err)
			}
		}
		return nil
	}
	if d.match(path) {
		if p := d.addPending(path, info); p != nil {
			p.changed = d.clock.Now()
		}
	}
	return nil
}

// addPending starts or continues waiting for a file to be complete. It
// returns the file's entry, or nil if the file has been read already.
func (d *Dir) addPending(path string, info fs.FileInfo) *pendingFile {
	if d.handled(path, versionOf(info)) {
		return nil
	}
	p := d.pending[path]
	if p == nil {
		p = &pendingFile{size: info.Size(), mod: info.ModTime(), changed: d.clock.Now()}
		d.pending[path] = p
	} else if p.size != info.Size() || !p.mod.Equal(info.ModTime()) {
		p.size, p.mod, p.changed, p.incomplete = info.Size(), info.ModTime(), d.clock.Now(), false
	}
	return p
}

// checkPending moves the files that have settled to the ready list, in
// name order.
func (d *Dir) checkPending() {
	now := d.clock.Now()
	var settled []string
	for path, p := range d.pending {
		if now.Sub(p.changed) < d.settle {
			continue
		}
		info, err := os.Stat(path)
		if err != nil {
			delete(d.pending, path)
			continue
		}
		if info.Size() != p.size || !info.ModTime().Equal(p.mod) {
			p.size, p.mod, p.changed, p.incomplete = info.Size(), info.ModTime(), now, false
			continue
		}
		if p.incomplete {
			if now.Sub(p.changed) >= d.patience {
				delete(d.pending, path)
				d.skip(path, fmt.Errorf("still not a complete image after %v", d.patience))
			}
			continue
		}
		delete(d.pending, path)
		settled = append(settled, path)
	}
	slices.Sort(settled)
	d.ready = append(d.ready, settled...)
}

// load reads a file and returns it as a frame if it is a complete image.
func (d *Dir) load(path string) (Frame, bool) {
	info, err := os.Stat(path)
	if err != nil {
		d.log.Debug("file vanished", "file", path, "err", err)
		return Frame{}, false
	}
	v := versionOf(info)
	if d.handled(path, v) {
		d.log.Debug("file already handled", "file", path)
		return Frame{}, false
	}
	if info.Size() > d.maxBytes {
		d.skip(path, fmt.Errorf("size %d exceeds limit %d", info.Size(), d.maxBytes))
		return Frame{}, false
	}
	data, err := readFileLimit(path, info.Size(), d.maxBytes)
	if err != nil {
		d.skip(path, err)
		return Frame{}, false
	}
	switch _, err := fileImageLen(data); {
	case errors.Is(err, errTruncated) && d.watch:
		// Still being written, or a writer that pauses: wait for more.
		d.pending[path] = &pendingFile{size: info.Size(), mod: info.ModTime(), changed: d.clock.Now(), incomplete: true}
		return Frame{}, false
	case err != nil:
		d.skip(path, err)
		return Frame{}, false
	}
	d.seen[path] = v
	delete(d.pending, path)
	d.seq++
	return Frame{Seq: d.seq, Time: info.ModTime(), Origin: path, Data: data, Key: v.key(path)}, true
}

// skip passes over the current version of path for good.
func (d *Dir) skip(path string, err error) {
	if info, serr := os.Stat(path); serr == nil {
		v := versionOf(info)
		d.seen[path] = v
		if d.ledger != nil {
			d.ledger.Add(v.key(path))
		}
	}
	d.skipped.Add(1)
	d.log.Warn("skipping file", "file", path, "err", err)
}

var errTooLarge = errors.New("file exceeds size limit")

func readFileLimit(path string, size, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var b bytes.Buffer
	b.Grow(int(min(size, limit)) + bytes.MinRead)
	if _, err := b.ReadFrom(io.LimitReader(f, limit+1)); err != nil {
		return nil, err
	}
	if int64(b.Len()) > limit {
		return nil, errTooLarge
	}
	return b.Bytes(), nil
}
