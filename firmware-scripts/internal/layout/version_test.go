package layout

import (
	"errors"
	"os/exec"
	"regexp"
	"testing"
)

func TestDebVersion(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"v1.2.0", "1.2.0"},
		{"1.2.0", "1.2.0"},
		{"v1.3.0-rc.1", "1.3.0~rc.1"},
		{"v1.2.0-4-gabc1234", "1.2.0+git4.abc1234"},
		{"v1.2.0-4-gabc1234-dirty", "1.2.0+git4.abc1234.dirty"},
		{"v1.2.0-dirty", "1.2.0+dirty"},
		{"v1.3.0-rc.1-2-gdeadbee", "1.3.0~rc.1+git2.deadbee"},
		{"v1.2.0+build.5", "1.2.0+build.5"},
		{"v1.2.0+build.5-dirty", "1.2.0+build.5.dirty"},
		{"dev", "0.0.0~dev"},
		{"abc1234", "0.0.0~abc1234"},
		{"abc1234-dirty", "0.0.0~abc1234+dirty"},
		{"version", "0.0.0~version"},
		{" 2.0 \n", "2.0"},
		{"1.0_beta/2", "1.0.beta.2"},
		{"2024.05.1", "2024.05.1"},
	}
	for _, tt := range tests {
		got, err := DebVersion(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("DebVersion(%q) = %q, %v, want %q, nil", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", "  ", "---", "/"} {
		if got, err := DebVersion(in); !errors.Is(err, ErrVersion) {
			t.Errorf("DebVersion(%q) = %q, %v, want ErrVersion", in, got, err)
		}
	}
}

// TestDebVersionOrder checks with dpkg itself that the versions sort the
// way the builds they come from were made.
func TestDebVersionOrder(t *testing.T) {
	dpkg, err := exec.LookPath("dpkg")
	if err != nil {
		t.Skip("dpkg not installed; the order is still covered by TestDebVersion")
	}
	ordered := []string{"dev", "v0.9.0", "v1.0.0-rc.1", "v1.0.0-rc.1-3-g1234abc", "v1.0.0-rc.2", "v1.0.0", "v1.0.0-dirty", "v1.0.0-1-gfeed123", "v1.0.0-2-g0000000", "v1.0.1"}
	for i := 0; i+1 < len(ordered); i++ {
		a, _ := DebVersion(ordered[i])
		b, _ := DebVersion(ordered[i+1])
		if err := exec.Command(dpkg, "--compare-versions", a, "lt", b).Run(); err != nil {
			t.Errorf("dpkg --compare-versions %s lt %s (from %s, %s) failed: %v", a, b, ordered[i], ordered[i+1], err)
		}
	}
}

var debianUpstream = regexp.MustCompile(`^[0-9][A-Za-z0-9.+~]*$`)

func FuzzDebVersion(f *testing.F) {
	for _, s := range []string{"v1.2.0", "v1.2.0-4-gabc1234-dirty", "dev", "-", "v", "1:2.0-1", "v1.0.0-rc.1+meta+more", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := DebVersion(in)
		if err != nil {
			return
		}
		if !debianUpstream.MatchString(got) {
			t.Errorf("DebVersion(%q) = %q, not a Debian upstream version without revision", in, got)
		}
		if again, err := DebVersion(got); err != nil || again != got {
			t.Errorf("DebVersion(DebVersion(%q) = %q) = %q, %v, want it unchanged", in, got, again, err)
		}
	})
}
