package source

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLedgerPersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "ledger")
	l, err := OpenLedger(path, LedgerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{"dir:/in/a.png|10|1", "dir:/in/new\nline.png|3|2", `dir:/in/"q".png|1|1`}
	for _, k := range keys {
		l.Add(k)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	// A crash after Sync: the file is not closed cleanly.
	l2, err := OpenLedger(path, LedgerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	for _, k := range keys {
		if !l2.Has(k) {
			t.Errorf("key %q lost across reopen", k)
		}
	}
	if l2.Has("dir:/in/a.png|10|2") {
		t.Error("a changed file (new mtime) counts as handled")
	}
	l.Close()
}

func TestLedgerIgnoresTornLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger")
	if err := os.WriteFile(path, []byte("\"a\"\n\"b\"\n\"tor"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := OpenLedger(path, LedgerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if !l.Has("a") || !l.Has("b") || l.Has("tor") {
		t.Errorf("after a torn line: a=%v b=%v tor=%v", l.Has("a"), l.Has("b"), l.Has("tor"))
	}
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), "tor") {
		t.Errorf("torn line kept in the rewritten file: %q", data)
	}
}

func TestLedgerBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger")
	l, err := OpenLedger(path, LedgerOptions{MaxEntries: 100})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5000 {
		l.Add(fmt.Sprint(i))
		if i%10 == 0 {
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
		}
	}
	l.Close()
	if l.Has("0") || !l.Has("4999") || !l.Has("4900") || l.Has("4899") {
		t.Error("ledger does not keep exactly the newest 100 entries")
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 3*1024*7 {
		t.Errorf("ledger file grew to %d bytes for 100 live entries", fi.Size())
	}
	l2, err := OpenLedger(path, LedgerOptions{MaxEntries: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if l2.Has("4899") || !l2.Has("4900") {
		t.Error("reopened ledger does not hold the newest 100 entries")
	}
}

// FuzzLedgerLoad feeds arbitrary file contents to OpenLedger: it must not
// fail or panic, every key added afterwards must survive a reopen, and the
// rewritten file must read back to the same entries.
func FuzzLedgerLoad(f *testing.F) {
	f.Add([]byte("\"a\"\n\"b\"\n"))
	f.Add([]byte("\"tor"))
	f.Add([]byte("\"\\n\"\n\n\"x\\\"y\"\n\"a\"\n"))
	f.Add([]byte{0xff, 0xfe, '\n', '"'})
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "ledger")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		l, err := OpenLedger(path, LedgerOptions{MaxEntries: 50})
		if err != nil {
			if strings.Contains(err.Error(), "token too long") {
				return // a line over 1 MiB is refused, not misread
			}
			t.Fatalf("OpenLedger: %v", err)
		}
		loaded := len(l.keys)
		l.Add("new\nkey")
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l2, err := OpenLedger(path, LedgerOptions{MaxEntries: 50})
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		defer l2.Close()
		if !l2.Has("new\nkey") {
			t.Error("key added after loading lost across reopen")
		}
		if n := len(l2.keys); n != min(loaded+1, 50) && n != loaded {
			t.Errorf("reopened with %d entries, had %d plus one", n, loaded)
		}
	})
}

func BenchmarkLedgerAddSync(b *testing.B) {
	l, err := OpenLedger(filepath.Join(b.TempDir(), "ledger"), LedgerOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		l.Add(fmt.Sprintf("dir:/var/lib/ood-agent/inbox/frame-%08d.jpg|48213|1796397069123456789", i))
		if i%16 == 15 { // one sync per writer batch
			if err := l.Sync(); err != nil {
				b.Fatal(err)
			}
		}
	}
}
