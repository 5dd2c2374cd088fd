package firmwaretest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ood-agent/ood-agent/firmware-scripts/internal/layout"
)

// fakeAgent writes a stand-in for the agent binary: a script whose
// "version" prints the given version, or fails when version is "".
func fakeAgent(t *testing.T, dir, version string) string {
	t.Helper()
	p := filepath.Join(dir, "ood-agent-"+version)
	body := "#!/bin/sh\n[ \"$1\" = version ] || exit 2\n"
	if version == "" {
		p = filepath.Join(dir, "ood-agent-broken")
		body += "echo 'cannot execute' >&2\nexit 1\n"
	} else {
		body += fmt.Sprintf("echo 'ood-agent %s (fake)'\n", version)
	}
	writeFile(t, p, body, 0o755)
	return p
}

// installer runs install.sh and uninstall.sh against one prefix.
type installer struct {
	t      *testing.T
	prefix string
	env    []string
}

func newInstaller(t *testing.T, env ...string) *installer {
	// The tests must not reach a systemd the machine may run.
	env = append([]string{"OOD_AGENT_SYSTEMCTL=", "OOD_AGENT_HEALTH_CMD=", "OOD_AGENT_HEALTH_URL="}, env...)
	return &installer{t: t, prefix: t.TempDir(), env: env}
}

func (in *installer) script(name string) string {
	return abs(in.t, filepath.Join(repoRoot, "firmware-scripts", name))
}

// install runs install.sh --prefix with args and returns its standard
// error and whether it succeeded.
func (in *installer) install(args ...string) (string, bool) {
	in.t.Helper()
	args = append([]string{"--prefix", in.prefix}, args...)
	_, stderr, err := runSplit(in.env, in.script("install.sh"), args...)
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			in.t.Fatal(err)
		}
	}
	return stderr, err == nil
}

func (in *installer) mustInstall(args ...string) string {
	in.t.Helper()
	stderr, ok := in.install(args...)
	if !ok {
		in.t.Fatalf("install.sh %v failed:\n%s", args, stderr)
	}
	return stderr
}

func (in *installer) path(p string) string { return filepath.Join(in.prefix, p) }

func (in *installer) mode(p string) os.FileMode {
	in.t.Helper()
	info, err := os.Stat(in.path(p))
	if err != nil {
		in.t.Fatal(err)
	}
	return info.Mode().Perm()
}

func exampleConfig(t *testing.T) string {
	return abs(t, filepath.Join(repoRoot, "config", "agent.example.yaml"))
}

func TestInstallScript(t *testing.T) {
	bins := t.TempDir()
	v1, v2, broken := fakeAgent(t, bins, "1.0.0"), fakeAgent(t, bins, "2.0.0"), fakeAgent(t, bins, "")
	in := newInstaller(t)

	t.Run("fresh", func(t *testing.T) {
		in.mustInstall("--binary", v1, "--config", exampleConfig(t))
		modes := map[string]os.FileMode{
			layout.BinaryPath:                         0o755,
			layout.ConfigPath:                         0o640,
			"/etc/systemd/system/ood-agent.service":   0o644,
			"/usr/share/ood-agent/agent.yaml.default": 0o644,
			layout.StateDir:                           0o750,
		}
		for p, want := range modes {
			if got := in.mode(p); got != want {
				t.Errorf("%s mode = %v, want %v", p, got, want)
			}
		}
		if readFile(t, in.path(layout.BinaryPath)) != readFile(t, v1) {
			t.Errorf("installed binary is not the one given")
		}
		if readFile(t, in.path(layout.ConfigPath)) != readFile(t, exampleConfig(t)) {
			t.Errorf("installed config is not the one given")
		}
		if readFile(t, in.path("/etc/systemd/system/ood-agent.service")) != readFile(t, unitPath()) {
			t.Errorf("installed unit is not firmware-scripts/ood-agent.service")
		}
		if exists(in.path(layout.BinaryPath + ".prev")) {
			t.Errorf("fresh install left ood-agent.prev")
		}
		leftovers, _ := filepath.Glob(in.path("*/*/.*.tmp.*"))
		if len(leftovers) > 0 {
			t.Errorf("temporary files left behind: %v", leftovers)
		}
	})

	t.Run("upgrade", func(t *testing.T) {
		in.mustInstall("--binary", v2, "--config", exampleConfig(t))
		if readFile(t, in.path(layout.BinaryPath)) != readFile(t, v2) {
			t.Errorf("upgrade did not install the new binary")
		}
		if readFile(t, in.path(layout.BinaryPath+".prev")) != readFile(t, v1) {
			t.Errorf("upgrade did not keep the previous binary as ood-agent.prev")
		}
	})

	t.Run("rollback", func(t *testing.T) {
		stderr, ok := in.install("--binary", broken, "--config", exampleConfig(t))
		if ok {
			t.Fatalf("install.sh with a broken binary succeeded:\n%s", stderr)
		}
		if readFile(t, in.path(layout.BinaryPath)) != readFile(t, v2) {
			t.Errorf("after a failed upgrade the binary is not the previous one")
		}
		if !strings.Contains(stderr, "rolling back") {
			t.Errorf("install.sh did not say it rolled back:\n%s", stderr)
		}
	})

	t.Run("health command override", func(t *testing.T) {
		bad := newInstaller(t, `OOD_AGENT_HEALTH_CMD=test -x "$OOD_AGENT_BIN" && exit 1`)
		bad.prefix = in.prefix
		if stderr, ok := bad.install("--binary", v1, "--config", exampleConfig(t)); ok {
			t.Fatalf("install.sh succeeded though OOD_AGENT_HEALTH_CMD failed:\n%s", stderr)
		}
		if readFile(t, in.path(layout.BinaryPath)) != readFile(t, v2) {
			t.Errorf("the binary failing OOD_AGENT_HEALTH_CMD was not rolled back")
		}
	})

	t.Run("edited config kept", func(t *testing.T) {
		cfg := in.path(layout.ConfigPath)
		edited := readFile(t, cfg) + "device_id: cam-7\n"
		writeFile(t, cfg, edited, 0o640)
		newDefault := filepath.Join(t.TempDir(), "agent.yaml")
		writeFile(t, newDefault, readFile(t, exampleConfig(t))+"# new default\n", 0o644)
		stderr := in.mustInstall("--binary", v2, "--config", newDefault)
		if got := readFile(t, cfg); got != edited {
			t.Errorf("install.sh overwrote an edited config")
		}
		if got := readFile(t, cfg+".new"); got != readFile(t, newDefault) {
			t.Errorf("agent.yaml.new does not hold the new default")
		}
		if !strings.Contains(stderr, "agent.yaml.new") {
			t.Errorf("install.sh did not mention agent.yaml.new:\n%s", stderr)
		}
	})

	t.Run("unedited config replaced", func(t *testing.T) {
		fresh := newInstaller(t)
		fresh.mustInstall("--binary", v1, "--config", exampleConfig(t))
		newDefault := filepath.Join(t.TempDir(), "agent.yaml")
		writeFile(t, newDefault, readFile(t, exampleConfig(t))+"# new default\n", 0o644)
		fresh.mustInstall("--binary", v2, "--config", newDefault)
		if got := readFile(t, fresh.path(layout.ConfigPath)); got != readFile(t, newDefault) {
			t.Errorf("install.sh kept an unedited old default instead of the new one")
		}
		if exists(fresh.path(layout.ConfigPath + ".new")) {
			t.Errorf("install.sh wrote agent.yaml.new for an unedited config")
		}
	})

	t.Run("uninstall", func(t *testing.T) {
		writeFile(t, in.path(layout.StateDir+"/outbox.db"), "queued", 0o600)
		run(t, in.env, in.script("uninstall.sh"), "--prefix", in.prefix)
		for _, p := range []string{layout.BinaryPath, layout.BinaryPath + ".prev", "/etc/systemd/system/ood-agent.service", "/usr/share/ood-agent"} {
			if exists(in.path(p)) {
				t.Errorf("uninstall left %s", p)
			}
		}
		for _, p := range []string{layout.ConfigPath, layout.StateDir + "/outbox.db"} {
			if !exists(in.path(p)) {
				t.Errorf("uninstall without --purge deleted %s", p)
			}
		}
		run(t, in.env, in.script("uninstall.sh"), "--prefix", in.prefix, "--purge")
		for _, p := range []string{layout.ConfigDir, layout.StateDir} {
			if exists(in.path(p)) {
				t.Errorf("uninstall --purge left %s", p)
			}
		}
	})
}

func TestInstallScriptArgs(t *testing.T) {
	bins := t.TempDir()
	v1 := fakeAgent(t, bins, "1.0.0")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"--frobnicate"}, "unknown argument"},
		{"missing value", []string{"--binary"}, "needs an argument"},
		{"missing binary", []string{"--binary", filepath.Join(bins, "absent")}, "no such file"},
		{"missing config", []string{"--binary", v1, "--config", filepath.Join(bins, "absent.yaml")}, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := newInstaller(t)
			stderr, ok := in.install(tt.args...)
			if ok || !strings.Contains(stderr, tt.want) {
				t.Errorf("install.sh %v = success %v, stderr %q; want failure mentioning %q", tt.args, ok, stderr, tt.want)
			}
			if exists(in.path(layout.BinaryPath)) {
				t.Errorf("install.sh %v installed a binary", tt.args)
			}
		})
	}
}

// TestInstallScriptArchAuto places one fake binary per architecture next
// to a copy of install.sh and checks that the one for this machine is
// picked.
func TestInstallScriptArchAuto(t *testing.T) {
	machine := strings.TrimSpace(run(t, nil, "uname", "-m"))
	want := map[string]string{"x86_64": "amd64", "aarch64": "arm64", "armv7l": "armv7", "armv6l": "armv6"}[machine]
	if want == "" {
		t.Skipf("no ood-agent build for %s", machine)
	}
	bundle := t.TempDir()
	for _, name := range []string{"install.sh", "ood-agent.service"} {
		src := filepath.Join(repoRoot, "firmware-scripts", name)
		info, err := os.Stat(src)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(bundle, name), readFile(t, src), info.Mode().Perm())
	}
	writeFile(t, filepath.Join(bundle, "agent.yaml"), readFile(t, exampleConfig(t)), 0o644)
	for _, tg := range layout.Targets() {
		writeFile(t, filepath.Join(bundle, "ood-agent-linux-"+tg.Name), "#!/bin/sh\necho ood-agent "+tg.Name+"\n", 0o755)
	}
	prefix := t.TempDir()
	run(t, []string{"OOD_AGENT_SYSTEMCTL=", "OOD_AGENT_HEALTH_CMD="}, filepath.Join(bundle, "install.sh"), "--arch", "auto", "--prefix", prefix)
	if got := readFile(t, filepath.Join(prefix, layout.BinaryPath)); !strings.Contains(got, "ood-agent "+want+"\n") {
		t.Errorf("install.sh --arch auto on %s installed %q, want the %s build", machine, got, want)
	}
}

// TestInstallScriptSystemd drives the systemd branch with a stand-in
// systemctl and a /healthz served by the test.
func TestInstallScriptSystemd(t *testing.T) {
	var healthy atomicBool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" || !healthy.get() {
			http.Error(w, "unhealthy", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	}))
	defer srv.Close()
	requireHTTPClient(t)

	stubs := t.TempDir()
	calls := filepath.Join(stubs, "calls.log")
	systemctl := filepath.Join(stubs, "systemctl")
	writeFile(t, systemctl, fmt.Sprintf("#!/bin/sh\necho \"$*\" >>%q\n", calls), 0o755)

	// http.listen in the installed config points at the test server.
	cfg := filepath.Join(t.TempDir(), "agent.yaml")
	writeFile(t, cfg, "device_id: \"\"\nhttp:\n  # status server\n  listen: "+strings.TrimPrefix(srv.URL, "http://")+"  # here\n", 0o644)

	bins := t.TempDir()
	v1, v2 := fakeAgent(t, bins, "1.0.0"), fakeAgent(t, bins, "2.0.0")
	in := newInstaller(t, "OOD_AGENT_SYSTEMCTL="+systemctl, "OOD_AGENT_HEALTH_TIMEOUT=1")

	healthy.set(true)
	in.mustInstall("--binary", v1, "--config", cfg)
	want := "daemon-reload\nenable ood-agent.service\nrestart ood-agent.service\nis-active --quiet ood-agent.service\n"
	if got := readFile(t, calls); got != want {
		t.Errorf("systemctl calls of a healthy install:\n%s\nwant:\n%s", got, want)
	}

	os.Remove(calls)
	healthy.set(false)
	stderr, ok := in.install("--binary", v2, "--config", cfg)
	if ok {
		t.Fatalf("install.sh succeeded though /healthz failed:\n%s", stderr)
	}
	if readFile(t, in.path(layout.BinaryPath)) != readFile(t, v1) {
		t.Errorf("binary failing /healthz was not rolled back")
	}
	if got := readFile(t, calls); strings.Count(got, "restart ood-agent.service") != 2 {
		t.Errorf("systemctl calls of a rollback:\n%s\nwant a restart for the new and one for the restored binary", got)
	}
	if !strings.Contains(stderr, "/healthz") {
		t.Errorf("install.sh did not name the failed health URL:\n%s", stderr)
	}
}

// requireHTTPClient makes sure curl or wget, which install.sh needs to
// reach /healthz, is installed.
func requireHTTPClient(t *testing.T) {
	t.Helper()
	for _, c := range []string{"curl", "wget"} {
		if _, err := exec.LookPath(c); err == nil {
			return
		}
	}
	requireTool(t, "curl", "apt-get install -y curl")
}
