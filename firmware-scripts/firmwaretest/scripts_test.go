package firmwaretest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// scripts returns every shell script in firmware-scripts, found by its
// #!/bin/sh line so that a new script cannot escape the check.
func scripts(t *testing.T) []string {
	t.Helper()
	var found []string
	dir := filepath.Join(repoRoot, "firmware-scripts")
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.HasPrefix(string(b), "#!/bin/sh") {
			found = append(found, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func TestShellcheck(t *testing.T) {
	shellcheck := requireTool(t, "shellcheck", "apt-get install -y shellcheck")
	all := scripts(t)
	want := []string{"install.sh", "uninstall.sh", "qemu-exec.sh", "deb/postinst", "deb/prerm", "deb/postrm"}
	for _, w := range want {
		found := false
		for _, s := range all {
			found = found || strings.HasSuffix(filepath.ToSlash(s), "firmware-scripts/"+w)
		}
		if !found {
			t.Errorf("scripts() did not find firmware-scripts/%s", w)
		}
	}
	for _, s := range all {
		rel, _ := filepath.Rel(repoRoot, s)
		t.Run(rel, func(t *testing.T) {
			info, err := os.Stat(s)
			if err != nil {
				t.Fatal(err)
			}
			if info.Mode().Perm()&0o111 == 0 {
				t.Errorf("%s is not executable (mode %v)", rel, info.Mode())
			}
			if _, err := runErr(nil, shellcheck, "--shell=sh", "--severity=style", rel); err != nil {
				t.Errorf("shellcheck %s: %v", rel, err)
			}
		})
	}
}
