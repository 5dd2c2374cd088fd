package firmwaretest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// testVersion is embedded in the agent binary the tests build.
const testVersion = "v9.8.7-fwtest"

// repoRoot is the repository root, relative to this package's directory,
// where go test runs the tests.
var repoRoot = filepath.Join("..", "..")

// buildDir holds binaries shared by the tests; TestMain creates and
// removes it.
var buildDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "firmwaretest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// requireTool returns the path of a command the test needs. When it is
// missing the test skips, or fails under CI=true.
func requireTool(t testing.TB, name, hint string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not found (CI=true): %s", name, hint)
	}
	t.Skipf("%s not found: %s", name, hint)
	return ""
}

// goEnv is the environment for the go command, without the cross
// compilation settings "make test-arm" runs the tests with, so that host
// tools build for the host.
func goEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		switch strings.SplitN(kv, "=", 2)[0] {
		case "GOOS", "GOARCH", "GOARM", "GOAMD64", "GOARM64", "CGO_ENABLED":
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

func goBuild(out, pkg, ldflags string, env ...string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return err
	}
	args := []string{"build", "-trimpath", "-o", out}
	if ldflags != "" {
		args = append(args, "-ldflags", ldflags)
	}
	cmd := exec.Command(goBin, append(args, pkg)...)
	cmd.Dir = repoRoot
	cmd.Env = goEnv(env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return nil
}

// The agent for arm64 is built once per run; building it is most of the
// cost of these tests.
var agentArm64 = sync.OnceValues(func() (string, error) {
	out := filepath.Join(buildDir, "ood-agent-linux-arm64")
	err := goBuild(out, "./cmd/ood-agent", "-s -w -X main.version="+testVersion,
		"CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64")
	return out, err
})

func arm64Agent(t testing.TB) string {
	t.Helper()
	p, err := agentArm64()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var hostTools = sync.OnceValues(func() (string, error) {
	dir := filepath.Join(buildDir, "tools")
	for _, tool := range []string{"mkdeb", "mkoverlay"} {
		if err := goBuild(filepath.Join(dir, tool), "./firmware-scripts/cmd/"+tool, ""); err != nil {
			return "", err
		}
	}
	return dir, nil
})

// tool returns the path of one of the firmware-scripts/cmd programs built
// for the host.
func tool(t testing.TB, name string) string {
	t.Helper()
	dir, err := hostTools()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, name)
}

// run runs a command in the repository root and returns its standard
// output, failing the test on error.
func run(t testing.TB, env []string, name string, args ...string) string {
	t.Helper()
	out, err := runErr(env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return out
}

// runErr runs a command in the repository root; the error carries its
// output.
func runErr(env []string, name string, args ...string) (string, error) {
	stdout, stderr, err := runSplit(env, name, args...)
	if err != nil {
		return stdout, fmt.Errorf("%w\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
	}
	return stdout, nil
}

// runSplit runs a command in the repository root and returns its standard
// output and standard error.
func runSplit(env []string, name string, args ...string) (stdout, stderr string, err error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

func abs(t testing.TB, path string) string {
	t.Helper()
	p, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func writeFile(t testing.TB, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// atomicBool is a flag shared with an HTTP handler.
type atomicBool struct {
	mu sync.Mutex
	v  bool
}

func (b *atomicBool) get() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.v
}

func (b *atomicBool) set(v bool) {
	b.mu.Lock()
	b.v = v
	b.mu.Unlock()
}
