package firmwaretest

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ood-agent/ood-agent/firmware-scripts/internal/layout"
)

// parseUnit returns the settings of a systemd unit as "Section.Key" to the
// values of every assignment, in order.
func parseUnit(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	settings := make(map[string][]string)
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			section = strings.Trim(line, "[]")
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("%s: malformed line %q", path, line)
			}
			key := section + "." + strings.TrimSpace(k)
			settings[key] = append(settings[key], strings.TrimSpace(v))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return settings
}

func unitPath() string { return filepath.Join(repoRoot, "firmware-scripts", "ood-agent.service") }

func TestUnitSettings(t *testing.T) {
	u := parseUnit(t, unitPath())
	want := map[string]string{
		"Service.Type":                    "notify",
		"Service.User":                    layout.User,
		"Service.Group":                   layout.User,
		"Service.SupplementaryGroups":     "video",
		"Service.ExecStart":               layout.BinaryPath + " run --config " + layout.ConfigPath,
		"Service.ExecReload":              "/bin/kill -HUP $MAINPID",
		"Service.NoNewPrivileges":         "yes",
		"Service.ProtectSystem":           "strict",
		"Service.ReadWritePaths":          layout.StateDir,
		"Service.StateDirectory":          filepath.Base(layout.StateDir),
		"Service.PrivateTmp":              "yes",
		"Service.ProtectHome":             "yes",
		"Service.ProtectKernelTunables":   "yes",
		"Service.ProtectKernelModules":    "yes",
		"Service.ProtectKernelLogs":       "yes",
		"Service.ProtectControlGroups":    "yes",
		"Service.RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
		"Service.RestrictNamespaces":      "yes",
		"Service.LockPersonality":         "yes",
		"Service.MemoryDenyWriteExecute":  "yes",
		"Service.SystemCallArchitectures": "native",
		"Service.CapabilityBoundingSet":   "",
		"Service.DevicePolicy":            "closed",
		"Service.DeviceAllow":             "char-video4linux rw",
		"Service.Restart":                 "on-failure",
		"Service.RestartSec":              "2",
		"Service.WatchdogSec":             "30",
		"Service.TimeoutStopSec":          "30",
		"Unit.StartLimitIntervalSec":      "0",
		"Install.WantedBy":                "multi-user.target",
	}
	for key, w := range want {
		got, ok := u[key]
		if !ok || len(got) != 1 || got[0] != w {
			t.Errorf("%s = %q, want exactly %q", key, got, w)
		}
	}
	// systemd 252 (Debian bookworm) warns about keys it does not know.
	for _, key := range []string{"Service.RestartSteps", "Service.RestartMaxDelaySec"} {
		if _, ok := u[key]; ok {
			t.Errorf("unit sets %s, which needs systemd 254", key)
		}
	}
}

// TestSystemdAnalyze verifies the unit with systemd's own checker, on a
// copy whose ExecStart names an existing executable, and keeps its
// hardening score from regressing.
func TestSystemdAnalyze(t *testing.T) {
	analyze := requireTool(t, "systemd-analyze", "apt-get install -y systemd")
	dir := t.TempDir()
	bin := filepath.Join(dir, "ood-agent")
	writeFile(t, bin, "#!/bin/sh\nexit 0\n", 0o755)
	unit := strings.ReplaceAll(readFile(t, unitPath()), "ExecStart="+layout.BinaryPath, "ExecStart="+bin)
	copyPath := filepath.Join(dir, "ood-agent.service")
	writeFile(t, copyPath, unit, 0o644)

	t.Run("verify", func(t *testing.T) {
		// Problems are warnings on standard error; the exit status stays 0
		// for most of them.
		_, stderr, err := runSplit(nil, analyze, "verify", copyPath)
		if err != nil || stderr != "" {
			t.Errorf("systemd-analyze verify = %v, warnings:\n%s", err, stderr)
		}
		// The same check notices a broken copy, so silence above means
		// something.
		broken := filepath.Join(dir, "broken.service")
		writeFile(t, broken, strings.Replace(unit, "[Service]", "[Service]\nRestartSteps=5", 1), 0o644)
		if _, stderr, _ := runSplit(nil, analyze, "verify", broken); !strings.Contains(stderr, "RestartSteps") {
			t.Logf("systemd-analyze verify accepted RestartSteps= (systemd 254 or later): %q", stderr)
		}
		writeFile(t, broken, strings.Replace(unit, "[Service]", "[Service]\nNoSuchSetting=1", 1), 0o644)
		if _, stderr, _ := runSplit(nil, analyze, "verify", broken); !strings.Contains(stderr, "NoSuchSetting") {
			t.Errorf("systemd-analyze verify of a unit with an unknown key printed %q, want a warning naming it", stderr)
		}
	})

	t.Run("security", func(t *testing.T) {
		out, err := runErr(nil, analyze, "security", "--offline=yes", "--no-pager", copyPath)
		if err != nil {
			t.Fatalf("systemd-analyze security: %v", err)
		}
		m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("systemd-analyze security printed no exposure level:\n%s", out)
		}
		exposure, _ := strconv.ParseFloat(m[1], 64)
		// 0 is fully locked down, 10 is unprotected; the unit scores 1.6.
		if exposure > 2.0 {
			t.Errorf("exposure level = %.1f, want at most 2.0 (the unit's hardening regressed):\n%s", exposure, out)
		}
	})
}
