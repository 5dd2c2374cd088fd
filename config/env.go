package config

import (
	"fmt"
	"slices"
	"strings"
)

// UnknownEnv returns a warning for every OOD_AGENT_ variable in environ
// (as os.Environ gives it) that overrides no key, since a misspelled
// variable would otherwise be ignored without a word. When a key's
// variable is within a small edit distance, the warning suggests it.
// Variables of the project's install scripts and tests are not keys and
// are not reported.
func UnknownEnv(environ []string) []string {
	keys := Keys()
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = EnvName(k)
	}
	var warnings []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix+"_") || slices.Contains(names, name) || isScriptVariable(name) {
			continue
		}
		msg := fmt.Sprintf("environment variable %s is not a configuration key and is ignored", name)
		if s := closest(name, names); s != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", s)
		}
		warnings = append(warnings, msg)
	}
	slices.Sort(warnings)
	return warnings
}

// isScriptVariable reports the OOD_AGENT_ variables that are not config
// keys: those firmware-scripts (install.sh, uninstall.sh, qemu-exec.sh)
// read, and KERNELS, which forces the interpreter's kernel level.
func isScriptVariable(name string) bool {
	switch strings.TrimPrefix(name, EnvPrefix+"_") {
	case "BIN", "HEALTH_CMD", "HEALTH_URL", "HEALTH_TIMEOUT", "SYSTEMCTL", "TEST_EMULATOR", "KERNELS":
		return true
	}
	return false
}
