// Command mkoverlay builds the rootfs overlay of ood-agent for one
// architecture: a tar.gz holding the binary, the systemd unit (enabled),
// a sysusers.d entry for the service user and the default configuration at
// their final paths, for Buildroot (BR2_ROOTFS_OVERLAY) and Yocto images:
//
//	go run ./firmware-scripts/cmd/mkoverlay --arch arm64 \
//		--binary dist/ood-agent-linux-arm64 --out dist/
//
// The archive is reproducible: entries sorted, owned by root, stamped with
// $SOURCE_DATE_EPOCH. --print-config writes only the installed default
// configuration to standard output.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ood-agent/ood-agent/firmware-scripts/internal/layout"
)

func main() { layout.Main("mkoverlay", run) }

type options struct {
	layout.BuildFlags
	sysusers    string
	printConfig bool
}

func run(args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("mkoverlay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o.Register(fs, "target: arm64, armv7, armv6 or amd64", "directory to write ood-agent-rootfs-overlay-<arch>.tar.gz to")
	fs.StringVar(&o.sysusers, "sysusers", "firmware-scripts/ood-agent.sysusers", "sysusers.d entry")
	fs.BoolVar(&o.printConfig, "print-config", false, "print the installed default configuration and exit")
	if err := layout.ParseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := layout.ReadSystemConfig(o.Config)
	if err != nil {
		return err
	}
	if o.printConfig {
		_, err := stdout.Write(cfg)
		return err
	}
	if o.Arch == "" || o.Binary == "" {
		return errors.New("--arch and --binary are required")
	}
	if _, err := layout.LookupTarget(o.Arch); err != nil {
		return err
	}
	if _, err := layout.CheckBinary(o.Binary, o.Arch); err != nil {
		return err
	}
	mtime, err := layout.SourceDateEpoch()
	if err != nil {
		return err
	}
	contents := map[layout.Source]func() ([]byte, error){
		layout.Binary:   func() ([]byte, error) { return os.ReadFile(o.Binary) },
		layout.Unit:     func() ([]byte, error) { return os.ReadFile(o.Unit) },
		layout.Sysusers: func() ([]byte, error) { return os.ReadFile(o.sysusers) },
		layout.Config:   func() ([]byte, error) { return cfg, nil },
	}
	var buf bytes.Buffer
	if err := writeOverlay(&buf, layout.Overlay(), contents, mtime); err != nil {
		return err
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return err
	}
	dst := filepath.Join(o.Out, "ood-agent-rootfs-overlay-"+o.Arch+".tar.gz")
	if err := layout.WriteFileAtomic(dst, buf.Bytes()); err != nil {
		return err
	}
	fmt.Fprintln(stdout, dst)
	return nil
}

// writeOverlay writes entries, and every directory above them, as a
// gzipped tar with paths relative to the image root.
func writeOverlay(w io.Writer, entries []layout.Entry, contents map[layout.Source]func() ([]byte, error), mtime time.Time) error {
	byPath := make(map[string]layout.Entry)
	for _, e := range entries {
		byPath[e.Path] = e
		for dir := path.Dir(e.Path); dir != "/"; dir = path.Dir(dir) {
			if _, ok := byPath[dir]; !ok {
				byPath[dir] = layout.Entry{Path: dir, Mode: fs.ModeDir | 0o755}
			}
		}
	}
	// Sorting full paths puts every directory before its contents.
	paths := slices.Sorted(func(yield func(string) bool) {
		for p := range byPath {
			if !yield(p) {
				return
			}
		}
	})

	// Go's gzip.Writer leaves the header's time and name empty, so the
	// output depends on the contents only.
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(zw)
	for _, p := range paths {
		e := byPath[p]
		hdr := &tar.Header{
			Name:    strings.TrimPrefix(p, "/"),
			Mode:    int64(e.Mode.Perm()),
			ModTime: mtime,
			Uname:   "root",
			Gname:   "root",
			Format:  tar.FormatUSTAR,
		}
		var body []byte
		switch {
		case e.Mode.IsDir():
			hdr.Typeflag = tar.TypeDir
			hdr.Name += "/"
		case e.Mode&fs.ModeSymlink != 0:
			hdr.Typeflag = tar.TypeSymlink
			hdr.Linkname = e.Target
		default:
			get, ok := contents[e.Source]
			if !ok {
				return fmt.Errorf("no contents for %s", p)
			}
			if body, err = get(); err != nil {
				return err
			}
			hdr.Typeflag = tar.TypeReg
			hdr.Size = int64(len(body))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if _, err := tw.Write(body); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}
