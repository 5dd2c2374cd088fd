// Command mkdeb builds the ood-agent Debian package for one architecture
// from a cross-compiled binary, with nFPM as a library so that no dpkg
// tooling is needed on the build machine:
//
//	go run ./firmware-scripts/cmd/mkdeb --arch arm64 --version v1.2.0 \
//		--binary dist/ood-agent-linux-arm64 --out dist/
//
// It is run from the repository root (the default paths of the unit,
// maintainer scripts and example configuration are relative to it) and
// prints the path of the package it wrote. File times come from
// $SOURCE_DATE_EPOCH, so rebuilding the same inputs gives the same bytes.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"

	"github.com/ood-agent/ood-agent/firmware-scripts/internal/layout"
)

func main() { layout.Main("mkdeb", run) }

type options struct {
	layout.BuildFlags
	version, scripts             string
	hubUnit, hubConfig           string
	maintainer, homepage, vendor string
	compression                  string
}

func run(args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("mkdeb", flag.ContinueOnError)
	fs.SetOutput(stderr)
	archs := slices.Sorted(func(yield func(string) bool) {
		for a := range layout.DebArchs() {
			if !yield(a) {
				return
			}
		}
	})
	o.Register(fs, "Debian architecture: "+strings.Join(archs, ", "), "directory to write the package to")
	fs.StringVar(&o.version, "version", "", "version of the build, e.g. v1.2.0 or git describe output")
	fs.StringVar(&o.hubUnit, "hub-unit", "firmware-scripts/deb/ood-agent-hub.service", "systemd unit of the hub (installed disabled)")
	fs.StringVar(&o.hubConfig, "hub-config", "config/hub.example.yaml", "hub configuration to install")
	fs.StringVar(&o.scripts, "scripts", "firmware-scripts/deb", "directory holding postinst, prerm and postrm")
	fs.StringVar(&o.maintainer, "maintainer", "ood-agent maintainers <ood-agent@localhost>", "Maintainer field")
	fs.StringVar(&o.homepage, "homepage", "https://github.com/ood-agent/ood-agent", "Homepage field")
	fs.StringVar(&o.vendor, "vendor", "ood-agent", "Vendor field")
	fs.StringVar(&o.compression, "compression", "xz", "data.tar compression: xz, gzip, zstd or none")
	if err := layout.ParseFlags(fs, args); err != nil {
		return err
	}
	if o.Arch == "" || o.version == "" || o.Binary == "" {
		return errors.New("--arch, --version and --binary are required")
	}
	path, err := build(o, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, path)
	return nil
}

// build writes the package and returns its path.
func build(o options, log io.Writer) (string, error) {
	allowed, ok := layout.DebArchs()[o.Arch]
	if !ok {
		return "", fmt.Errorf("unsupported architecture %q", o.Arch)
	}
	target, err := layout.CheckBinary(o.Binary, allowed...)
	if err != nil {
		return "", err
	}
	if target.Name == "armv7" {
		fmt.Fprintf(log, "mkdeb: note: %s is an armv7 build; it will not run on ARMv6 boards (Raspberry Pi Zero/1) that Raspberry Pi OS also calls armhf\n", o.Binary)
	}
	version, err := layout.DebVersion(o.version)
	if err != nil {
		return "", fmt.Errorf("version %q: %w", o.version, err)
	}
	mtime, err := layout.SourceDateEpoch()
	if err != nil {
		return "", err
	}

	tmp, err := os.MkdirTemp("", "mkdeb-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	cfg, err := layout.ReadSystemConfig(o.Config)
	if err != nil {
		return "", err
	}
	cfgPath := filepath.Join(tmp, "agent.yaml")
	if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		return "", err
	}
	sources := map[layout.Source]string{
		layout.Binary: o.Binary,
		layout.Unit:   o.Unit,
		layout.Config: cfgPath,
		// The hub's paths are absolute already: installed as is.
		layout.HubUnit:   o.hubUnit,
		layout.HubConfig: o.hubConfig,
	}

	var contents files.Contents
	for _, e := range layout.Deb() {
		c := &files.Content{
			Destination: e.Path,
			FileInfo:    &files.ContentFileInfo{Mode: e.Mode.Perm(), MTime: mtime},
		}
		switch {
		case e.Mode.IsDir():
			c.Type = files.TypeDir
		case e.Conffile:
			c.Type = files.TypeConfigNoReplace
		default:
			c.Type = files.TypeFile
		}
		if e.Source != layout.NoSource {
			c.Source = sources[e.Source]
		}
		contents = append(contents, c)
	}

	info := nfpm.WithDefaults(&nfpm.Info{
		Name:          layout.User,
		Arch:          o.Arch,
		Platform:      "linux",
		Version:       version,
		VersionSchema: "none",
		Section:       "net",
		Priority:      "optional",
		Maintainer:    o.maintainer,
		Vendor:        o.vendor,
		Homepage:      o.homepage,
		Description: "out-of-distribution alerts from an on-device TFLite classifier\n" +
			"ood-agent runs a TensorFlow Lite image classifier on camera frames,\n" +
			"flags frames unlike its training data with the energy score, and\n" +
			"publishes alerts over MQTT with a durable outbox. It runs as the\n" +
			"hardened systemd service ood-agent.service.",
		MTime:           mtime,
		DisableGlobbing: true,
		Overridables: nfpm.Overridables{
			Depends:  []string{"adduser"},
			Contents: contents,
			Scripts: nfpm.Scripts{
				PostInstall: filepath.Join(o.scripts, "postinst"),
				PreRemove:   filepath.Join(o.scripts, "prerm"),
				PostRemove:  filepath.Join(o.scripts, "postrm"),
			},
			Deb: nfpm.Deb{Arch: o.Arch, Compression: o.compression},
		},
	})

	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(o.Out, deb.Default.ConventionalFileName(info))
	var pkg bytes.Buffer
	if err := deb.Default.Package(info, &pkg); err != nil {
		return "", fmt.Errorf("package %s: %w", path, err)
	}
	if err := layout.WriteFileAtomic(path, pkg.Bytes()); err != nil {
		return "", err
	}
	return path, nil
}
