package firmwaretest

import (
	"archive/tar"
	"compress/gzip"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ood-agent/ood-agent/firmware-scripts/internal/layout"
)

type tarEntry struct {
	hdr  *tar.Header
	body string
}

func readOverlay(t *testing.T, path string) []tarEntry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var entries []tarEntry
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return entries
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, tarEntry{hdr, string(body)})
	}
}

func TestRootfsOverlay(t *testing.T) {
	dir := t.TempDir()
	mk := func() string {
		out := run(t, []string{"SOURCE_DATE_EPOCH=" + epoch}, tool(t, "mkoverlay"),
			"--arch", "arm64", "--binary", arm64Agent(t), "--out", dir)
		return strings.TrimSpace(out)
	}
	path := mk()
	if want := "ood-agent-rootfs-overlay-arm64.tar.gz"; filepath.Base(path) != want {
		t.Errorf("mkoverlay wrote %s, want %s", filepath.Base(path), want)
	}
	entries := readOverlay(t, path)
	sec, _ := strconv.ParseInt(epoch, 10, 64)
	mtime := time.Unix(sec, 0)

	var names []string
	byName := make(map[string]tarEntry)
	for _, e := range entries {
		names = append(names, e.hdr.Name)
		byName["/"+strings.TrimSuffix(e.hdr.Name, "/")] = e
		if e.hdr.Uid != 0 || e.hdr.Gid != 0 || e.hdr.Uname != "root" || e.hdr.Gname != "root" {
			t.Errorf("%s owned by %d(%s):%d(%s), want root", e.hdr.Name, e.hdr.Uid, e.hdr.Uname, e.hdr.Gid, e.hdr.Gname)
		}
		if !e.hdr.ModTime.Equal(mtime) {
			t.Errorf("%s mtime = %v, want SOURCE_DATE_EPOCH %v", e.hdr.Name, e.hdr.ModTime, mtime)
		}
		if strings.HasPrefix(e.hdr.Name, "/") || strings.HasPrefix(e.hdr.Name, "./") {
			t.Errorf("entry %q is not relative to the image root", e.hdr.Name)
		}
	}
	if !slices.IsSorted(names) {
		t.Errorf("entries are not sorted: %v", names)
	}
	for i := 1; i < len(names); i++ {
		if names[i] == names[i-1] {
			t.Errorf("entry %s appears twice", names[i])
		}
	}

	sources := map[layout.Source]string{
		layout.Binary:   readFile(t, arm64Agent(t)),
		layout.Unit:     readFile(t, unitPath()),
		layout.Sysusers: readFile(t, filepath.Join(repoRoot, "firmware-scripts", "ood-agent.sysusers")),
	}
	cfg, err := layout.SystemConfig([]byte(readFile(t, exampleConfig(t))))
	if err != nil {
		t.Fatal(err)
	}
	sources[layout.Config] = string(cfg)
	for _, want := range layout.Overlay() {
		got, ok := byName[want.Path]
		if !ok {
			t.Errorf("overlay lacks %s", want.Path)
			continue
		}
		if fs.FileMode(got.hdr.Mode) != want.Mode.Perm() {
			t.Errorf("%s mode = %o, want %o", want.Path, got.hdr.Mode, want.Mode.Perm())
		}
		switch {
		case want.Mode.IsDir():
			if got.hdr.Typeflag != tar.TypeDir {
				t.Errorf("%s is not a directory", want.Path)
			}
		case want.Mode&fs.ModeSymlink != 0:
			if got.hdr.Typeflag != tar.TypeSymlink || got.hdr.Linkname != want.Target {
				t.Errorf("%s links to %q, want %q", want.Path, got.hdr.Linkname, want.Target)
			}
		default:
			if got.body != sources[want.Source] {
				t.Errorf("%s does not hold its source's contents", want.Path)
			}
		}
	}

	if again := mk(); readFile(t, again) != readFile(t, path) {
		t.Errorf("two builds of the overlay differ")
	}

	t.Run("sysusers", func(t *testing.T) {
		sysusers := requireTool(t, "systemd-sysusers", "apt-get install -y systemd")
		root := t.TempDir()
		if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
			t.Fatal(err)
		}
		conf := filepath.Join(t.TempDir(), "ood-agent.conf")
		writeFile(t, conf, byName[layout.SysusersPath].body, 0o644)
		run(t, nil, sysusers, "--root="+root, conf)
		passwd := readFile(t, filepath.Join(root, "etc/passwd"))
		if !strings.Contains(passwd, layout.User+":") || !strings.Contains(passwd, ":"+layout.StateDir+":") {
			t.Errorf("systemd-sysusers created passwd:\n%s\nwant %s with home %s", passwd, layout.User, layout.StateDir)
		}
		if group := readFile(t, filepath.Join(root, "etc/group")); !strings.Contains(group, "video:x:") || !strings.Contains(group, ":"+layout.User+"\n") {
			t.Errorf("systemd-sysusers created group:\n%s\nwant %s in video", group, layout.User)
		}
	})

	t.Run("print-config", func(t *testing.T) {
		got := run(t, nil, tool(t, "mkoverlay"), "--print-config")
		if got != string(cfg) {
			t.Errorf("mkoverlay --print-config differs from the overlay's agent.yaml")
		}
	})
}

func TestMkoverlayRejectsWrongBinary(t *testing.T) {
	_, err := runErr(nil, tool(t, "mkoverlay"), "--arch", "armv7", "--binary", arm64Agent(t), "--out", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "GOARCH=arm64") {
		t.Errorf("mkoverlay --arch armv7 with an arm64 binary = %v, want an error naming GOARCH=arm64", err)
	}
	_, err = runErr(nil, tool(t, "mkdeb"), "--arch", "amd64", "--version", "1.0", "--binary", arm64Agent(t), "--out", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "GOARCH=arm64") {
		t.Errorf("mkdeb --arch amd64 with an arm64 binary = %v, want an error naming GOARCH=arm64", err)
	}
}
