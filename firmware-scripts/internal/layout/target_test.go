package layout

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestLookupTarget(t *testing.T) {
	for _, want := range Targets() {
		got, err := LookupTarget(want.Name)
		if err != nil || got != want {
			t.Errorf("LookupTarget(%q) = %+v, %v, want %+v", want.Name, got, err, want)
		}
	}
	if got, err := LookupTarget("armhf"); err == nil {
		t.Errorf("LookupTarget(armhf) = %+v, want an error (armhf is a Debian name)", got)
	}
	for deb, names := range DebArchs() {
		for _, n := range names {
			if _, err := LookupTarget(n); err != nil {
				t.Errorf("DebArchs()[%s] names unknown target %s", deb, n)
			}
		}
	}
}

// buildHello cross-compiles testdata/hello with env added.
func buildHello(t *testing.T, env ...string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("go not in PATH")
		}
		t.Skip("go not in PATH")
	}
	out := filepath.Join(t.TempDir(), "hello")
	cmd := exec.Command(goBin, "build", "-trimpath", "-o", out, "./testdata/hello")
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %v: %v\n%s", env, err, b)
	}
	return out
}

func TestCheckBinary(t *testing.T) {
	armv6 := buildHello(t, "GOOS=linux", "GOARCH=arm", "GOARM=6", "CGO_ENABLED=0")
	arm64 := buildHello(t, "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	tests := []struct {
		bin     string
		allowed []string
		want    string // target name, "" for ErrWrongBinary
	}{
		{armv6, DebArchs()["armhf"], "armv6"},
		{armv6, []string{"armv6"}, "armv6"},
		{armv6, []string{"armv7"}, ""},
		{armv6, DebArchs()["arm64"], ""},
		{arm64, DebArchs()["arm64"], "arm64"},
		{arm64, DebArchs()["amd64"], ""},
	}
	for _, tt := range tests {
		got, err := CheckBinary(tt.bin, tt.allowed...)
		if tt.want == "" {
			if !errors.Is(err, ErrWrongBinary) {
				t.Errorf("CheckBinary(%s, %v) = %+v, %v, want ErrWrongBinary", filepath.Base(filepath.Dir(tt.bin)), tt.allowed, got, err)
			}
			continue
		}
		if err != nil || got.Name != tt.want {
			t.Errorf("CheckBinary(%s, %v) = %+v, %v, want target %s", filepath.Base(filepath.Dir(tt.bin)), tt.allowed, got, err, tt.want)
		}
	}
	if _, err := CheckBinary("testdata/hello/main.go", "amd64"); err == nil || errors.Is(err, ErrWrongBinary) {
		t.Errorf("CheckBinary(a source file) = %v, want a build info read error", err)
	}
}
