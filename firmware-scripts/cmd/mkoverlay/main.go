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

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "mkoverlay:", err)
		os.Exit(1)
	}
}

type options struct {
	arch, binary, out      string
	config, unit, sysusers string
	printConfig            bool
}

func run(args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("mkoverlay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.arch, "arch", "", "target: arm64, armv7, armv6 or amd64")
	fs.StringVar(&o.binary, "binary", "", "cross-compiled ood-agent for the target")
	fs.StringVar(&o.out, "out", "dist", "directory to write ood-agent-rootfs-overlay-<arch>.tar.gz to")
	fs.StringVar(&o.config, "config", "config/agent.example.yaml", "example configuration to install as the default")
	fs.StringVar(&o.unit, "unit", "firmware-scripts/ood-agent.service", "systemd unit")
	fs.StringVar(&o.sysusers, "sysusers", "firmware-scripts/ood-agent.sysusers", "sysusers.d entry")
	fs.BoolVar(&o.printConfig, "print-config", false, "print the installed default configuration and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	cfg, err := systemConfig(o.config)
	if err != nil {
		return err
	}
	if o.printConfig {
		_, err := stdout.Write(cfg)
		return err
	}
	if o.arch == "" || o.binary == "" {
		return errors.New("--arch and --binary are required")
	}
	if _, err := layout.LookupTarget(o.arch); err != nil {
		return err
	}
	if _, err := layout.CheckBinary(o.binary, o.arch); err != nil {
		return err
	}
	mtime, err := layout.SourceDateEpoch()
	if err != nil {
		return err
	}
	contents := map[layout.Source]func() ([]byte, error){
		layout.Binary:   func() ([]byte, error) { return os.ReadFile(o.binary) },
		layout.Unit:     func() ([]byte, error) { return os.ReadFile(o.unit) },
		layout.Sysusers: func() ([]byte, error) { return os.ReadFile(o.sysusers) },
		layout.Config:   func() ([]byte, error) { return cfg, nil },
	}
	var buf bytes.Buffer
	if err := writeOverlay(&buf, layout.Overlay(), contents, mtime); err != nil {
		return err
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	dst := filepath.Join(o.out, "ood-agent-rootfs-overlay-"+o.arch+".tar.gz")
	if err := writeFileAtomic(dst, buf.Bytes()); err != nil {
		return err
	}
	fmt.Fprintln(stdout, dst)
	return nil
}

func systemConfig(example string) ([]byte, error) {
	b, err := os.ReadFile(example)
	if err != nil {
		return nil, err
	}
	cfg, err := layout.SystemConfig(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", example, err)
	}
	return cfg, nil
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

// writeFileAtomic replaces dst so that readers see the old or the new
// archive, never half of one.
func writeFileAtomic(dst string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(dst), ".mkoverlay-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), dst)
}
