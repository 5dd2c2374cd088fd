package layout

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// BuildFlags are the flags the image builders (mkdeb, mkoverlay) share.
type BuildFlags struct {
	Arch, Binary, Out, Config, Unit string
}

// Register adds the shared flags to fs; archHelp and outHelp describe
// what --arch and --out mean for the command.
func (b *BuildFlags) Register(fs *flag.FlagSet, archHelp, outHelp string) {
	fs.StringVar(&b.Arch, "arch", "", archHelp)
	fs.StringVar(&b.Binary, "binary", "", "cross-compiled ood-agent for the architecture")
	fs.StringVar(&b.Out, "out", "dist", outHelp)
	fs.StringVar(&b.Config, "config", "config/agent.example.yaml", "example configuration to install as the default")
	fs.StringVar(&b.Unit, "unit", "firmware-scripts/ood-agent.service", "systemd unit")
}

// ParseFlags parses args with fs and rejects positional arguments, which
// the builders do not take.
func ParseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return nil
}

// ReadSystemConfig reads the example configuration at path and returns
// the installed default made from it (see SystemConfig).
func ReadSystemConfig(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cfg, err := SystemConfig(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// WriteFileAtomic replaces dst (mode 0644) so that readers see the old or
// the new file, never half of one.
func WriteFileAtomic(dst string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".*")
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

// Main runs a builder's run function with the command line and the
// standard streams, and exits with status 1 after printing "name: error".
func Main(name string, run func(args []string, stdout, stderr io.Writer) error) {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}
