package layout

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBuildFlags(t *testing.T) {
	var b BuildFlags
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	b.Register(fs, "arch", "out")
	if err := ParseFlags(fs, []string{"--arch", "arm64", "--binary", "x"}); err != nil {
		t.Fatal(err)
	}
	want := BuildFlags{Arch: "arm64", Binary: "x", Out: "dist", Config: "config/agent.example.yaml", Unit: "firmware-scripts/ood-agent.service"}
	if b != want {
		t.Errorf("flags = %+v, want %+v", b, want)
	}
	fs = flag.NewFlagSet("t", flag.ContinueOnError)
	b.Register(fs, "arch", "out")
	if err := ParseFlags(fs, []string{"--arch", "arm64", "stray"}); err == nil || !strings.Contains(err.Error(), `unexpected arguments ["stray"]`) {
		t.Errorf("ParseFlags with a positional argument = %v", err)
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	dst := filepath.Join(dir, "a.tar.gz")
	for _, content := range []string{"first", "second"} {
		if err := WriteFileAtomic(dst, []byte(content)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(dst)
		if err != nil || string(got) != content {
			t.Errorf("after writing %q: %q, %v", content, got, err)
		}
	}
	st, _ := os.Stat(dst)
	entries, _ := os.ReadDir(dir)
	if st.Mode().Perm() != 0o644 || len(entries) != 1 {
		t.Errorf("mode %v, %d files in the directory (temporary files left?)", st.Mode().Perm(), len(entries))
	}
}
