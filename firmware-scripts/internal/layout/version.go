package layout

import (
	"errors"
	"regexp"
	"strings"
)

// ErrVersion is returned for a version that cannot become a Debian one.
var ErrVersion = errors.New("invalid version")

var (
	gitDescribe = regexp.MustCompile(`^(.+)-([0-9]+)-g([0-9a-f]+)$`)
	debUnsafe   = regexp.MustCompile(`[^A-Za-z0-9.+~]+`)
)

// DebVersion turns a build version (a tag such as v1.2.0 or v1.3.0-rc.1,
// git describe output such as v1.2.0-4-gabc1234-dirty, or anything else)
// into a Debian upstream version that sorts the same way: a pre-release
// sorts before its release (1.3.0~rc.1), commits after a tag sort after it
// (1.2.0+git4.abc1234), and a version not starting with a digit, such as
// "dev" or a bare commit hash, sorts before every release (0.0.0~dev). The
// result never contains a hyphen, since dpkg would read what follows it as
// the Debian revision.
func DebVersion(v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", ErrVersion
	}
	if len(v) > 1 && (v[0] == 'v' || v[0] == 'V') && isDigit(v[1]) {
		v = v[1:]
	}
	var suffix string
	if base, ok := strings.CutSuffix(v, "-dirty"); ok && base != "" {
		v, suffix = base, "+dirty"
	}
	if m := gitDescribe.FindStringSubmatch(v); m != nil {
		v = m[1]
		suffix = "+git" + m[2] + "." + m[3] + strings.Replace(suffix, "+", ".", 1)
	}
	// Semantic versioning: what follows the first hyphen is a pre-release.
	v = strings.Replace(v, "-", "~", 1)
	v += suffix
	if strings.Contains(suffix, "+") && strings.Count(v, "+") > 1 {
		// Build metadata of the tag and git's suffix: keep one '+'.
		i := strings.IndexByte(v, '+')
		v = v[:i+1] + strings.ReplaceAll(v[i+1:], "+", ".")
	}
	v = debUnsafe.ReplaceAllString(v, ".")
	v = strings.Trim(v, ".")
	if !strings.ContainsFunc(v, isAlnum) {
		return "", ErrVersion
	}
	if !isDigit(v[0]) {
		v = "0.0.0~" + v
	}
	return v, nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isAlnum(r rune) bool {
	return '0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z'
}
