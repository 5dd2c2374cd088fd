package firmwaretest

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/ood-agent/ood-agent/firmware-scripts/internal/layout"
)

const epoch = "1700000000"

// buildDeb packages the arm64 agent as version with the given example
// configuration ("" for the repository's) into dir.
func buildDeb(t *testing.T, dir, version, config string) string {
	t.Helper()
	args := []string{"--arch", "arm64", "--version", version, "--binary", arm64Agent(t), "--out", dir, "--compression", "gzip"}
	if config != "" {
		args = append(args, "--config", config)
	}
	out := run(t, []string{"SOURCE_DATE_EPOCH=" + epoch}, tool(t, "mkdeb"), args...)
	return strings.TrimSpace(out)
}

func TestDebPackage(t *testing.T) {
	dpkgDeb := requireTool(t, "dpkg-deb", "apt-get install -y dpkg")
	dir := t.TempDir()
	deb := buildDeb(t, dir, testVersion, "")
	wantVersion, err := layout.DebVersion(testVersion)
	if err != nil {
		t.Fatal(err)
	}
	if want := "ood-agent_" + wantVersion + "_arm64.deb"; filepath.Base(deb) != want {
		t.Errorf("mkdeb wrote %s, want %s", filepath.Base(deb), want)
	}

	t.Run("control", func(t *testing.T) {
		want := map[string]string{
			"Package":      "ood-agent",
			"Version":      wantVersion,
			"Architecture": "arm64",
			"Depends":      "adduser",
		}
		for field, w := range want {
			if got := strings.TrimSpace(run(t, nil, dpkgDeb, "-f", deb, field)); got != w {
				t.Errorf("control field %s = %q, want %q", field, got, w)
			}
		}
	})

	t.Run("contents", func(t *testing.T) {
		// "-rwxr-xr-x root/root 12124322 2023-11-14 22:13 ./usr/bin/ood-agent"
		got := make(map[string]string)
		for line := range strings.Lines(run(t, []string{"TZ=UTC"}, dpkgDeb, "-c", deb)) {
			f := strings.Fields(line)
			if len(f) < 6 {
				t.Fatalf("unexpected dpkg-deb -c line %q", line)
			}
			path := strings.TrimSuffix(strings.TrimPrefix(f[5], "."), "/")
			got[path] = f[0] + " " + f[1] + " " + f[3]
		}
		for _, e := range layout.Deb() {
			want := fs.FileMode(e.Mode).String() + " root/root 2023-11-14"
			if e.Mode.IsDir() {
				want = "d" + want[1:]
			}
			if got[e.Path] != want {
				t.Errorf("%s in the package: %q, want %q", e.Path, got[e.Path], want)
			}
		}
		if len(got) != 15 {
			t.Errorf("package holds %d entries, want 15 (7 entries and their parent directories): %v", len(got), got)
		}
	})

	t.Run("files", func(t *testing.T) {
		root := t.TempDir()
		run(t, nil, dpkgDeb, "-x", deb, root)
		bin := readFile(t, filepath.Join(root, layout.BinaryPath))
		if bin != readFile(t, arm64Agent(t)) {
			t.Errorf("%s differs from the binary given to mkdeb", layout.BinaryPath)
		}
		if got, want := readFile(t, filepath.Join(root, layout.DebUnitPath)), readFile(t, unitPath()); got != want {
			t.Errorf("%s differs from firmware-scripts/ood-agent.service", layout.DebUnitPath)
		}
		if got, want := readFile(t, filepath.Join(root, layout.HubUnitPath)), readFile(t, filepath.Join(repoRoot, "firmware-scripts", "deb", "ood-agent-hub.service")); got != want {
			t.Errorf("%s differs from firmware-scripts/deb/ood-agent-hub.service", layout.HubUnitPath)
		}
		if got, want := readFile(t, filepath.Join(root, layout.HubConfigPath)), readFile(t, filepath.Join(repoRoot, "config", "hub.example.yaml")); got != want {
			t.Errorf("%s differs from config/hub.example.yaml", layout.HubConfigPath)
		}
		example := readFile(t, filepath.Join(repoRoot, "config", "agent.example.yaml"))
		want, err := layout.SystemConfig([]byte(example))
		if err != nil {
			t.Fatal(err)
		}
		if got := readFile(t, filepath.Join(root, layout.ConfigPath)); got != string(want) {
			t.Errorf("%s is not SystemConfig(config/agent.example.yaml)", layout.ConfigPath)
		}
	})

	t.Run("control files", func(t *testing.T) {
		ctl := t.TempDir()
		run(t, nil, dpkgDeb, "-e", deb, ctl)
		if got, want := readFile(t, filepath.Join(ctl, "conffiles")), layout.ConfigPath+"\n"+layout.HubConfigPath+"\n"; got != want {
			t.Errorf("conffiles = %q, want %q", got, want)
		}
		for _, s := range []string{"postinst", "prerm", "postrm"} {
			p := filepath.Join(ctl, s)
			info, err := os.Stat(p)
			if err != nil {
				t.Errorf("maintainer script %s missing: %v", s, err)
				continue
			}
			if info.Mode().Perm() != 0o755 {
				t.Errorf("%s mode = %v, want 0755", s, info.Mode().Perm())
			}
			if readFile(t, p) != readFile(t, filepath.Join(repoRoot, "firmware-scripts", "deb", s)) {
				t.Errorf("%s differs from firmware-scripts/deb/%s", s, s)
			}
		}
	})

	t.Run("reproducible", func(t *testing.T) {
		again := buildDeb(t, t.TempDir(), testVersion, "")
		if readFile(t, again) != readFile(t, deb) {
			t.Errorf("two builds of the same package differ")
		}
	})
}

// dpkgRoot is a throwaway system for dpkg --root: a package database and
// the user and group files the maintainer scripts edit.
type dpkgRoot struct {
	t    *testing.T
	dir  string
	wrap []string // fakeroot, when not root
	env  []string
	log  string // calls of host-only commands that must not happen
}

func newDpkgRoot(t *testing.T) *dpkgRoot {
	requireTool(t, "dpkg", "apt-get install -y dpkg")
	requireTool(t, "useradd", "apt-get install -y passwd")
	r := &dpkgRoot{t: t, dir: t.TempDir()}
	if os.Geteuid() != 0 {
		r.wrap = []string{requireTool(t, "fakeroot", "apt-get install -y fakeroot")}
	}
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "etc"} {
		if err := os.MkdirAll(filepath.Join(r.dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(r.dir, "var/lib/dpkg/status"), "", 0o644)
	writeFile(t, filepath.Join(r.dir, "var/lib/dpkg/available"), "", 0o644)
	writeFile(t, filepath.Join(r.dir, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n", 0o644)
	writeFile(t, filepath.Join(r.dir, "etc/group"), "root:x:0:\nvideo:x:44:\n", 0o644)
	writeFile(t, filepath.Join(r.dir, "etc/shadow"), "root:*:19000:0:99999:7:::\n", 0o640)
	writeFile(t, filepath.Join(r.dir, "etc/gshadow"), "root:*::\nvideo:!::\n", 0o640)

	// With DPKG_ROOT set, the scripts must edit the throwaway root only:
	// commands that can only act on the host are replaced by stubs that
	// record the call and fail.
	stubs := t.TempDir()
	r.log = filepath.Join(stubs, "host-calls.log")
	for _, name := range []string{"adduser", "deluser", "addgroup", "delgroup", "deb-systemd-helper", "deb-systemd-invoke"} {
		writeFile(t, filepath.Join(stubs, name), fmt.Sprintf("#!/bin/sh\necho \"%s $*\" >>%q\nexit 1\n", name, r.log), 0o755)
	}
	realSystemctl := requireTool(t, "systemctl", "apt-get install -y systemd")
	writeFile(t, filepath.Join(stubs, "systemctl"), fmt.Sprintf(`#!/bin/sh
case " $* " in
*" --root=%s "*) exec %q "$@" ;;
esac
echo "systemctl $*" >>%q
exit 1
`, r.dir, realSystemctl, r.log), 0o755)
	r.env = []string{"PATH=" + stubs + ":" + os.Getenv("PATH") + ":/usr/sbin:/sbin"}
	r.dpkg("--add-architecture", "arm64")
	return r
}

func (r *dpkgRoot) dpkg(args ...string) string {
	r.t.Helper()
	base := []string{"--root=" + r.dir, "--log=/dev/null", "--force-script-chrootless", "--force-depends"}
	cmd := append(slices.Clone(r.wrap), append([]string{"dpkg"}, append(base, args...)...)...)
	out := run(r.t, r.env, cmd[0], cmd[1:]...)
	if b, err := os.ReadFile(r.log); err == nil && len(b) > 0 {
		r.t.Fatalf("dpkg %v: maintainer scripts ran host commands outside DPKG_ROOT:\n%s", args, b)
	}
	return out
}

func (r *dpkgRoot) path(p string) string { return filepath.Join(r.dir, p) }

// entry returns the line of NAME in the root's passwd or group file.
func (r *dpkgRoot) entry(db, name string) []string {
	for line := range strings.Lines(readFile(r.t, r.path("etc/"+db))) {
		f := strings.Split(strings.TrimSpace(line), ":")
		if f[0] == name {
			return f
		}
	}
	return nil
}

// checkOwner reports a file's owner and mode, when they are real: under
// fakeroot they are not.
func (r *dpkgRoot) checkOwner(path string, uid, gid string, mode fs.FileMode) {
	r.t.Helper()
	info, err := os.Stat(r.path(path))
	if err != nil {
		r.t.Error(err)
		return
	}
	if info.Mode().Perm() != mode {
		r.t.Errorf("%s mode = %v, want %v", path, info.Mode().Perm(), mode)
	}
	if len(r.wrap) > 0 {
		return
	}
	st := info.Sys().(*syscall.Stat_t)
	if got := strconv.Itoa(int(st.Uid)) + ":" + strconv.Itoa(int(st.Gid)); got != uid+":"+gid {
		r.t.Errorf("%s owner = %s, want %s:%s", path, got, uid, gid)
	}
}

// TestDebInstall installs, upgrades, removes and purges the package with
// dpkg in a throwaway root, which runs the real maintainer scripts and the
// real conffile handling.
func TestDebInstall(t *testing.T) {
	r := newDpkgRoot(t)
	debs := t.TempDir()
	changed := filepath.Join(t.TempDir(), "agent.yaml")
	writeFile(t, changed, readFile(t, filepath.Join(repoRoot, "config", "agent.example.yaml"))+"# a newer default\n", 0o644)
	v1 := buildDeb(t, debs, "v1.0.0", "")
	v2 := buildDeb(t, debs, "v1.1.0", "")
	v3 := buildDeb(t, debs, "v1.2.0", changed)
	cfg := r.path(layout.ConfigPath)

	r.dpkg("-i", v1)
	var uid, gid string
	t.Run("install", func(t *testing.T) {
		if !exists(r.path(layout.BinaryPath)) {
			t.Fatalf("%s not installed", layout.BinaryPath)
		}
		u, g := r.entry("passwd", layout.User), r.entry("group", layout.User)
		if u == nil || g == nil {
			t.Fatalf("postinst created no %s user/group: passwd %v, group %v", layout.User, u, g)
		}
		uid, gid = u[2], g[2]
		if u[3] != gid || u[5] != layout.StateDir {
			t.Errorf("passwd entry %v, want group %s and home %s", u, gid, layout.StateDir)
		}
		if video := r.entry("group", "video"); video == nil || video[3] != layout.User {
			t.Errorf("video group = %v, want %s as its member", video, layout.User)
		}
		r.checkOwner(layout.StateDir, uid, gid, 0o750)
		r.checkOwner(layout.ConfigPath, "0", gid, 0o640)
		link, err := os.Readlink(r.path(layout.WantsLink))
		if err != nil || link != layout.DebUnitPath {
			t.Errorf("unit enabled as %q, %v, want a link to %s", link, err, layout.DebUnitPath)
		}
	})

	// An admin disabling the unit must survive upgrades.
	if err := os.Remove(r.path(layout.WantsLink)); err != nil {
		t.Fatal(err)
	}
	writeFile(t, r.path(layout.StateDir+"/outbox.db"), "queued alerts", 0o600)

	t.Run("upgrade keeps unedited config", func(t *testing.T) {
		before := readFile(t, cfg)
		r.dpkg("-i", v2)
		if got := readFile(t, cfg); got != before {
			t.Errorf("upgrade with the same default changed the config")
		}
		r.checkOwner(layout.ConfigPath, "0", gid, 0o640)
		if exists(r.path(layout.WantsLink)) {
			t.Errorf("upgrade re-enabled a unit the admin disabled")
		}
	})

	t.Run("upgrade keeps edited config", func(t *testing.T) {
		edited := readFile(t, cfg) + "# site edit\n"
		writeFile(t, cfg, edited, 0o640)
		r.dpkg("--force-confold", "-i", v3)
		if got := readFile(t, cfg); got != edited {
			t.Errorf("upgrade clobbered the edited config")
		}
		if dist := readFile(t, cfg+".dpkg-dist"); !strings.HasSuffix(dist, "# a newer default\n") {
			t.Errorf("agent.yaml.dpkg-dist does not hold the new default")
		}
		if got := readFile(t, r.path(layout.StateDir+"/outbox.db")); got != "queued alerts" {
			t.Errorf("upgrade changed the state")
		}
	})

	t.Run("remove keeps config, state and user", func(t *testing.T) {
		r.dpkg("-r", "ood-agent")
		if exists(r.path(layout.BinaryPath)) || exists(r.path(layout.DebUnitPath)) {
			t.Errorf("remove left the binary or the unit")
		}
		if !exists(cfg) || !exists(r.path(layout.StateDir+"/outbox.db")) || r.entry("passwd", layout.User) == nil {
			t.Errorf("remove deleted the config, the state or the user")
		}
	})

	t.Run("purge", func(t *testing.T) {
		r.dpkg("-P", "ood-agent")
		for _, p := range []string{layout.ConfigDir, layout.StateDir, layout.WantsLink} {
			if exists(r.path(p)) {
				t.Errorf("purge left %s", p)
			}
		}
		if r.entry("passwd", layout.User) != nil || r.entry("group", layout.User) != nil {
			t.Errorf("purge left the %s user or group", layout.User)
		}
		if video := r.entry("group", "video"); video == nil {
			t.Errorf("purge deleted the video group")
		}
	})

	t.Run("upgrade replaces unedited config", func(t *testing.T) {
		r.dpkg("-i", v1)
		r.dpkg("-i", v3)
		if got := readFile(t, cfg); !strings.HasSuffix(got, "# a newer default\n") {
			t.Errorf("upgrade kept an unedited old default instead of the new one")
		}
		if exists(cfg + ".dpkg-dist") {
			t.Errorf("upgrade of an unedited config left agent.yaml.dpkg-dist")
		}
	})
}

// TestMaintainerScriptsHost runs the maintainer scripts the way dpkg runs
// them on a device (no DPKG_ROOT), with every command that would touch the
// host replaced by a stub that records its arguments.
func TestMaintainerScriptsHost(t *testing.T) {
	tests := []struct {
		name   string
		script string
		args   []string
		exists bool // whether the user exists beforehand
		want   []string
		never  []string
	}{
		{
			name: "first install", script: "postinst", args: []string{"configure", ""},
			want: []string{
				"adduser --system --group --home /var/lib/ood-agent --no-create-home --shell /usr/sbin/nologin --quiet ood-agent",
				"adduser --quiet ood-agent video",
				"mkdir -p /var/lib/ood-agent",
				"chown 123:124 /var/lib/ood-agent",
				"chmod 0750 /var/lib/ood-agent",
				"dpkg-statoverride --update --add root #124 0640 /etc/ood-agent/agent.yaml",
				"systemctl enable ood-agent.service",
			},
		},
		{
			name: "upgrade", script: "postinst", args: []string{"configure", "1.0.0"}, exists: true,
			want:  []string{"chown 123:124 /var/lib/ood-agent", "adduser --quiet ood-agent video"},
			never: []string{"adduser --system", "systemctl enable"},
		},
		{
			name: "remove", script: "postrm", args: []string{"remove"}, exists: true,
			never: []string{"rm ", "deluser", "dpkg-statoverride --remove"},
		},
		{
			name: "purge", script: "postrm", args: []string{"purge"}, exists: true,
			want: []string{
				"dpkg-statoverride --remove /etc/ood-agent/agent.yaml",
				"rm -rf /var/lib/ood-agent /etc/ood-agent",
				"rm -f /etc/systemd/system/multi-user.target.wants/ood-agent.service /etc/systemd/system/multi-user.target.wants/ood-agent-hub.service",
				"deluser --system --quiet ood-agent",
			},
		},
		{
			name: "prerm upgrade", script: "prerm", args: []string{"upgrade", "1.1.0"}, exists: true,
			never: []string{"systemctl"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stubs := t.TempDir()
			log := filepath.Join(stubs, "calls.log")
			marker := filepath.Join(stubs, "user-exists")
			if tt.exists {
				writeFile(t, marker, "", 0o644)
			}
			record := fmt.Sprintf("echo \"$(basename \"$0\") $*\" >>%q\n", log)
			for _, name := range []string{"chown", "chmod", "mkdir", "rm", "systemctl", "deluser", "delgroup", "userdel", "groupdel", "usermod"} {
				writeFile(t, filepath.Join(stubs, name), "#!/bin/sh\n"+record, 0o755)
			}
			writeFile(t, filepath.Join(stubs, "adduser"), "#!/bin/sh\n"+record+
				fmt.Sprintf("case \" $* \" in *\" --system \"*) : >%q ;; esac\n", marker), 0o755)
			// "--list" finds no override, so postinst adds one and postrm
			// (which checks first) is told one exists only for purge.
			listed := "1"
			if tt.name == "purge" {
				listed = "0"
			}
			writeFile(t, filepath.Join(stubs, "dpkg-statoverride"), "#!/bin/sh\n"+
				"case $1 in --list) exit "+listed+" ;; esac\n"+record, 0o755)
			writeFile(t, filepath.Join(stubs, "getent"), fmt.Sprintf(`#!/bin/sh
case "$1 $2" in
"group video") echo video:x:44:; exit 0 ;;
esac
[ -e %q ] || exit 2
case $1 in
passwd) echo "ood-agent:x:123:124::/var/lib/ood-agent:/usr/sbin/nologin" ;;
group) echo "ood-agent:x:124:" ;;
esac
`, marker), 0o755)

			script := abs(t, filepath.Join(repoRoot, "firmware-scripts", "deb", tt.script))
			env := []string{"PATH=" + stubs + ":" + os.Getenv("PATH"), "DPKG_ROOT="}
			run(t, env, "sh", append([]string{script}, tt.args...)...)
			calls, _ := os.ReadFile(log)
			for _, w := range tt.want {
				if !slices.Contains(strings.Split(string(calls), "\n"), w) {
					t.Errorf("%s %v did not run %q; calls:\n%s", tt.script, tt.args, w, calls)
				}
			}
			for _, n := range tt.never {
				if bytes.Contains(calls, []byte(n)) {
					t.Errorf("%s %v ran %q; calls:\n%s", tt.script, tt.args, n, calls)
				}
			}
		})
	}
}
