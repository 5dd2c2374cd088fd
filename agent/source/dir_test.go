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
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// drain reads frames until io.EOF.
func drain(t *testing.T, src Source) []Frame {
	t.Helper()
	var got []Frame
	for {
		f, err := src.Next(t.Context())
		if err == io.EOF {
			return got
		}
		if err != nil {
			t.Fatalf("Next() error %v", err)
		}
		got = append(got, f)
	}
}

func origins(t *testing.T, root string, frames []Frame) []string {
	var names []string
	for _, f := range frames {
		rel, err := filepath.Rel(root, f.Origin)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, filepath.ToSlash(rel))
	}
	return names
}

func TestDirExisting(t *testing.T) {
	root := t.TempDir()
	jpg := encodeJPEG(t, 8, 8, 1)
	png1 := encodePNG(t, 8, 8, 2)
	big := encodePNG(t, 64, 64, 3)
	files := map[string][]byte{
		"b.jpg":         jpg,
		"a.png":         png1,
		"c.JPEG":        jpg,
		"big.png":       big,
		"notes.txt":     []byte("not an image"),
		"fake.jpg":      []byte("<html>login</html>"),
		"cut.jpg":       jpg[:len(jpg)-20],
		".hidden.jpg":   jpg,
		"sub/d.jpg":     jpg,
		"sub/e.png":     png1,
		".git/f.jpg":    jpg,
		"sub/deep/g.jg": jpg,
	}
	for name, data := range files {
		writeFile(t, filepath.Join(root, name), data)
	}
	tests := []struct {
		name        string
		opts        DirOptions
		want        []string
		wantSkipped uint64
	}{
		{
			name:        "top level",
			opts:        DirOptions{MaxBytes: int64(len(big) - 1)},
			want:        []string{"a.png", "b.jpg", "c.JPEG"},
			wantSkipped: 3, // big, fake, cut
		},
		{
			name:        "recursive",
			opts:        DirOptions{Recursive: true, MaxBytes: int64(len(big))},
			want:        []string{"a.png", "b.jpg", "big.png", "c.JPEG", "sub/d.jpg", "sub/e.png"},
			wantSkipped: 2,
		},
		{
			name: "pattern",
			opts: DirOptions{Pattern: "*.jpg", Recursive: true},
			want: []string{"b.jpg", "sub/d.jpg"},
			// fake.jpg and cut.jpg
			wantSkipped: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Path = root
			src, err := NewDir(tt.opts, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			got := drain(t, src)
			if diff := cmp.Diff(tt.want, origins(t, root, got)); diff != "" {
				t.Errorf("files read (-want +got):\n%s", diff)
			}
			for i, f := range got {
				if want, _ := os.ReadFile(f.Origin); !bytes.Equal(f.Data, want) {
					t.Errorf("%s: Data differs from the file", f.Origin)
				}
				if f.Seq != uint64(i+1) {
					t.Errorf("%s: Seq = %d, want %d", f.Origin, f.Seq, i+1)
				}
				if info, _ := os.Stat(f.Origin); !f.Time.Equal(info.ModTime()) {
					t.Errorf("%s: Time = %v, want the modification time %v", f.Origin, f.Time, info.ModTime())
				}
			}
			if c := src.Counts(); c.Skipped != tt.wantSkipped {
				t.Errorf("Counts().Skipped = %d, want %d", c.Skipped, tt.wantSkipped)
			}
			if _, err := src.Next(t.Context()); err != io.EOF {
				t.Errorf("Next() at the end error = %v, want io.EOF", err)
			}
		})
	}
}

func TestNewDirErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	writeFile(t, file, nil)
	tests := []struct {
		name string
		opts DirOptions
		want error
	}{
		{"missing", DirOptions{Path: filepath.Join(t.TempDir(), "missing")}, fs.ErrNotExist},
		{"missing watched", DirOptions{Path: filepath.Join(t.TempDir(), "missing"), Watch: true}, fs.ErrNotExist},
		{"bad pattern", DirOptions{Path: t.TempDir(), Pattern: "["}, filepath.ErrBadPattern},
		{"empty", DirOptions{}, nil},
		{"not a directory", DirOptions{Path: file}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := NewDir(tt.opts, nil)
			if err == nil {
				src.Close()
				t.Fatalf("NewDir(%+v) error = nil, want an error", tt.opts)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("NewDir(%+v) error = %v, want %v", tt.opts, err, tt.want)
			}
		})
	}
}

// nextWithin calls Next with a timeout.
func nextWithin(t *testing.T, src Source, d time.Duration) (Frame, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	return src.Next(ctx)
}

func TestDirWatch(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	existing := encodePNG(t, 8, 8, 1)
	writeFile(t, filepath.Join(root, "0-existing.png"), existing)

	src, err := NewDir(DirOptions{Path: root, Watch: true, Recursive: true, Settle: 100 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()

	expect := func(t *testing.T, name string, want []byte) {
		t.Helper()
		f, err := nextWithin(t, src, 5*time.Second)
		if err != nil {
			t.Fatalf("Next() waiting for %s error %v", name, err)
		}
		if got := filepath.Base(f.Origin); got != name || !bytes.Equal(f.Data, want) {
			t.Fatalf("Next() = %s (%d bytes), want %s (%d bytes)", got, len(f.Data), name, len(want))
		}
	}
	expectNothing := func(t *testing.T, why string) {
		t.Helper()
		if f, err := nextWithin(t, src, 400*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s: Next() = %s, %v; want nothing", why, f.Origin, err)
		}
	}
	expect(t, "0-existing.png", existing)

	t.Run("slowly written", func(t *testing.T) {
		// Written in pieces with short pauses, and one pause longer than
		// Settle: read only once complete.
		jpg := encodeJPEG(t, 64, 48, 2)
		f, err := os.Create(filepath.Join(root, "slow.jpg"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		done := make(chan error, 1)
		go func() {
			pieces := [][]byte{jpg[:10], jpg[10:200], jpg[200:400], jpg[400 : len(jpg)-2], jpg[len(jpg)-2:]}
			pauses := []time.Duration{30, 30, 350, 30}
			for i, p := range pieces {
				if _, err := f.Write(p); err != nil {
					done <- err
					return
				}
				if i < len(pauses) {
					time.Sleep(pauses[i] * time.Millisecond)
				}
			}
			done <- nil
		}()
		expect(t, "slow.jpg", jpg)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		// A file changed in place after it was read is a new version
		// and is read again, once.
		if _, err := f.Write([]byte("trailing")); err != nil {
			t.Fatal(err)
		}
		expect(t, "slow.jpg", append(jpg, "trailing"...))
		expectNothing(t, "after the changed file was read")
	})

	t.Run("snapshot overwritten in place", func(t *testing.T) {
		first, second := encodeJPEG(t, 16, 16, 7), encodeJPEG(t, 16, 16, 8)
		path := filepath.Join(root, "snapshot.jpg")
		writeFile(t, path, first)
		expect(t, "snapshot.jpg", first)
		writeFile(t, path, second)
		expect(t, "snapshot.jpg", second)
	})

	t.Run("renamed in", func(t *testing.T) {
		png2 := encodePNG(t, 12, 12, 3)
		tmp := filepath.Join(outside, "in.png")
		writeFile(t, tmp, png2)
		if err := os.Rename(tmp, filepath.Join(root, "moved.png")); err != nil {
			t.Fatal(err)
		}
		expect(t, "moved.png", png2)
		// A temporary name inside, renamed to its final name.
		writeFile(t, filepath.Join(root, ".part"), png2)
		if err := os.Rename(filepath.Join(root, ".part"), filepath.Join(root, "final.png")); err != nil {
			t.Fatal(err)
		}
		expect(t, "final.png", png2)
	})

	t.Run("new subdirectory", func(t *testing.T) {
		jpg := encodeJPEG(t, 8, 8, 4)
		writeFile(t, filepath.Join(root, "sub", "deeper", "x.jpg"), jpg)
		expect(t, "x.jpg", jpg)
	})

	t.Run("removed and created again", func(t *testing.T) {
		path := filepath.Join(root, "moved.png")
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		png3 := encodePNG(t, 4, 4, 5)
		writeFile(t, path, png3)
		expect(t, "moved.png", png3)
	})

	t.Run("ignored names", func(t *testing.T) {
		writeFile(t, filepath.Join(root, "notes.txt"), []byte("x"))
		writeFile(t, filepath.Join(root, ".hidden.jpg"), encodeJPEG(t, 4, 4, 6))
		expectNothing(t, "after writing files that do not match")
	})

	t.Run("directory removed", func(t *testing.T) {
		if err := os.RemoveAll(root); err != nil {
			t.Fatal(err)
		}
		for {
			_, err := nextWithin(t, src, 5*time.Second)
			if errors.Is(err, ErrDirRemoved) {
				break
			}
			if err != nil {
				t.Fatalf("Next() after removing the directory error = %v, want ErrDirRemoved", err)
			}
		}
	})
	if c := src.Counts(); c.Skipped != 0 {
		t.Errorf("Counts().Skipped = %d, want 0", c.Skipped)
	}
}

func TestDirWatchIncomplete(t *testing.T) {
	root := t.TempDir()
	src, err := NewDir(DirOptions{Path: root, Watch: true, Settle: 50 * time.Millisecond, IncompleteTimeout: 300 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	jpg := encodeJPEG(t, 16, 16, 1)
	writeFile(t, filepath.Join(root, "cut.jpg"), jpg[:len(jpg)/2])
	writeFile(t, filepath.Join(root, "junk.jpg"), []byte("not an image at all"))
	big := filepath.Join(root, "ok.jpg")
	go func() {
		time.Sleep(600 * time.Millisecond)
		writeFile(t, big, jpg)
	}()
	f, err := nextWithin(t, src, 5*time.Second)
	if err != nil || filepath.Base(f.Origin) != "ok.jpg" {
		t.Fatalf("Next() = %s, %v; want ok.jpg", f.Origin, err)
	}
	if c := src.Counts(); c.Skipped != 2 {
		t.Errorf("Counts().Skipped = %d, want 2 (an incomplete file given up on, one not an image)", c.Skipped)
	}
}

func TestDirClose(t *testing.T) {
	src, err := NewDir(DirOptions{Path: t.TempDir(), Watch: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := src.Next(t.Context())
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if err := src.Close(); err != nil {
		t.Fatalf("Close() error %v", err)
	}
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Errorf("blocked Next() after Close error = %v, want ErrClosed", err)
	}
	if err := src.Close(); err != nil {
		t.Errorf("second Close() error %v", err)
	}
}

func TestDirWatchBusyDirectory(t *testing.T) {
	// A file written continuously in the directory must not hold back
	// one that is complete.
	root := t.TempDir()
	src, err := NewDir(DirOptions{Path: root, Watch: true, Settle: 100 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	busy, err := os.Create(filepath.Join(root, "recording.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				busy.Write([]byte{0xFF, 0xD8, 0xFF})
			}
		}
	}()
	jpg := encodeJPEG(t, 8, 8, 1)
	writeFile(t, filepath.Join(root, "done.jpg"), jpg)
	f, err := nextWithin(t, src, 3*time.Second)
	if err != nil || filepath.Base(f.Origin) != "done.jpg" {
		t.Fatalf("Next() = %q, %v; want done.jpg", f.Origin, err)
	}
}

// TestDirLedgerAcrossRestarts: files handled before a restart are not read
// again, a file changed in place while the agent was away is, and so are
// the files the consumer did not record as handled.
func TestDirLedgerAcrossRestarts(t *testing.T) {
	root, state := t.TempDir(), t.TempDir()
	for i := range 4 {
		writeFile(t, filepath.Join(root, fmt.Sprintf("%d.png", i)), encodePNG(t, 8, 8, i))
	}
	writeFile(t, filepath.Join(root, "bad.png"), []byte("not a png"))
	open := func() (*Dir, *Ledger) {
		l, err := OpenLedger(filepath.Join(state, "ledger"), LedgerOptions{})
		if err != nil {
			t.Fatal(err)
		}
		d, err := NewDir(DirOptions{Path: root, Ledger: l}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return d, l
	}
	d, l := open()
	frames := drain(t, d)
	if got := origins(t, root, frames); fmt.Sprint(got) != "[0.png 1.png 2.png 3.png]" {
		t.Fatalf("first run read %v", got)
	}
	// The consumer handled the first three; the fourth was in flight
	// when the agent died.
	for _, f := range frames[:3] {
		if f.Key == "" {
			t.Fatalf("frame %s has no key", f.Origin)
		}
		l.Add(f.Key)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	d.Close() // no ledger Close: as after kill -9

	// 1.png changes while the agent is away (a new modification time).
	later := time.Now().Add(time.Minute)
	writeFile(t, filepath.Join(root, "1.png"), encodePNG(t, 8, 8, 11))
	if err := os.Chtimes(filepath.Join(root, "1.png"), later, later); err != nil {
		t.Fatal(err)
	}
	d, l = open()
	defer l.Close()
	defer d.Close()
	if got := origins(t, root, drain(t, d)); fmt.Sprint(got) != "[1.png 3.png]" {
		t.Errorf("after the restart read %v, want the changed and the unhandled file", got)
	}
	if n := d.Counts().Skipped; n != 0 {
		t.Errorf("the bad file, skipped in the first run, was skipped again (%d)", n)
	}
}

// TestDirLogsIgnoredFiles: a file the source will not read is logged once
// with the reason.
func TestDirLogsIgnoredFiles(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a.png"), encodePNG(t, 8, 8, 1))
	writeFile(t, filepath.Join(root, "b.txt"), []byte("BM"))
	writeFile(t, filepath.Join(root, "c.jpg"), encodeJPEG(t, 8, 8, 2))
	logs := &logRecords{}
	d, err := NewDir(DirOptions{Path: root, Pattern: "a*"}, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if got := origins(t, root, drain(t, d)); fmt.Sprint(got) != "[a.png]" {
		t.Fatalf("read %v", got)
	}
	reasons := map[string]string{}
	for _, r := range logs.records(t, "ignoring file") {
		reasons[filepath.Base(r["file"].(string))] = r["reason"].(string)
	}
	if !strings.Contains(reasons["b.txt"], ".png") || !strings.Contains(reasons["c.jpg"], "pattern") || len(reasons) != 2 {
		t.Errorf("ignored files logged with reasons %v", reasons)
	}
}
