package model

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// TestOpenMapsTheFile: on unix a model file is memory-mapped (what
// ReleasePages acts on); bytes given to OpenBytes are not.
func TestOpenMapsTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.tflite")
	raw, err := Encode(&Model{Version: 3, Subgraphs: []Subgraph{{}}, Buffers: [][]byte{nil}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := runtime.GOOS != "windows" && runtime.GOOS != "plan9"; f.mapped != want {
		t.Errorf("mapped = %v, want %v", f.mapped, want)
	}
	f.ReleasePages()
	g, err := OpenBytes("bytes", raw)
	if err != nil {
		t.Fatal(err)
	}
	if g.mapped || g.SHA256() != f.SHA256() {
		t.Errorf("OpenBytes: mapped %v, SHA-256 %s vs %s", g.mapped, g.SHA256(), f.SHA256())
	}
}
