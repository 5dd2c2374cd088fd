package layout

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ErrConfig is returned for an example configuration that cannot serve as
// the installed default under the hardened unit.
var ErrConfig = errors.New("configuration unfit for a system install")

// ConfigHeader starts the installed default configuration.
const ConfigHeader = `# Default configuration of the ood-agent system service, read from
# /etc/ood-agent/agent.yaml. Upgrades keep an edited copy and put the new
# default next to it (agent.yaml.dpkg-dist from the .deb, agent.yaml.new
# from install.sh). State lives in /var/lib/ood-agent, the only directory
# the service may write to.
`

// writableKeys are the paths the agent writes to; the unit's
// ReadWritePaths= and StateDirectory= make only StateDir writable.
var writableKeys = []string{"outbox.path"}

// hiddenDirs are invisible to the service: ProtectHome= hides the first
// three, PrivateTmp= replaces the others with an empty private directory.
var hiddenDirs = []string{"/home", "/root", "/run/user", "/tmp", "/var/tmp"}

// SystemConfig turns the annotated example configuration into the default
// installed as ConfigPath. Relative paths, which would resolve against the
// service's working directory, are made absolute under StateDir; paths the
// hardened unit would hide from the agent, and files the agent writes
// outside StateDir, are rejected with ErrConfig. Everything else,
// comments included, is kept byte for byte, and ConfigHeader is put in
// front. Applying SystemConfig to its own output changes nothing.
func SystemConfig(example []byte) ([]byte, error) {
	body, _ := bytes.CutPrefix(example, []byte(ConfigHeader))
	var doc yaml.Node
	if err := yaml.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	var edits []edit
	var problems []string
	walkPaths(&doc, "", func(key string, n *yaml.Node) {
		p := n.Value
		if p == "" || strings.HasPrefix(p, "~") {
			if p != "" {
				problems = append(problems, fmt.Sprintf("%s: %q is in a home directory, which the service cannot see", key, p))
			}
			return
		}
		if !path.IsAbs(p) {
			abs := path.Join(StateDir, p)
			edits = append(edits, edit{node: n, value: abs})
			p = abs
		}
		p = path.Clean(p)
		for _, d := range hiddenDirs {
			if p == d || strings.HasPrefix(p, d+"/") {
				problems = append(problems, fmt.Sprintf("%s: %s is hidden from the service (ProtectHome=, PrivateTmp=)", key, p))
			}
		}
		if slices.Contains(writableKeys, key) && !strings.HasPrefix(p, StateDir+"/") {
			problems = append(problems, fmt.Sprintf("%s: %s is outside %s, the only writable directory", key, p, StateDir))
		}
	})
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrConfig, strings.Join(problems, "; "))
	}
	out, err := applyEdits(body, edits)
	if err != nil {
		return nil, err
	}
	return append([]byte(ConfigHeader), out...), nil
}

// isPathKey reports whether a mapping key holds a file system path.
func isPathKey(name string) bool {
	switch name {
	case "path", "calibration":
		return true
	}
	return strings.HasSuffix(name, "_file") || strings.HasSuffix(name, "_path") || strings.HasSuffix(name, "_dir")
}

// walkPaths calls f for every scalar held by a path key, with the key's
// dotted name.
func walkPaths(n *yaml.Node, prefix string, f func(key string, value *yaml.Node)) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			walkPaths(c, prefix, f)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key := k.Value
			if prefix != "" {
				key = prefix + "." + k.Value
			}
			if v.Kind == yaml.ScalarNode && isPathKey(k.Value) && v.Tag == "!!str" {
				f(key, v)
				continue
			}
			walkPaths(v, key, f)
		}
	}
}

type edit struct {
	node  *yaml.Node
	value string
}

// applyEdits replaces the scalars of edits in src in place, keeping their
// quoting, so that the rest of the file stays as written.
func applyEdits(src []byte, edits []edit) ([]byte, error) {
	lines := bytes.SplitAfter(src, []byte("\n"))
	// Later edits first, so earlier columns on the same line stay valid.
	slices.SortFunc(edits, func(a, b edit) int {
		if a.node.Line != b.node.Line {
			return b.node.Line - a.node.Line
		}
		return b.node.Column - a.node.Column
	})
	for _, e := range edits {
		n := e.node
		var raw, repl string
		switch n.Style {
		case 0:
			raw, repl = n.Value, e.value
		case yaml.DoubleQuotedStyle:
			raw, repl = `"`+n.Value+`"`, `"`+e.value+`"`
		case yaml.SingleQuotedStyle:
			raw, repl = `'`+n.Value+`'`, `'`+e.value+`'`
		}
		li, col := n.Line-1, n.Column-1
		if raw == "" || li < 0 || li >= len(lines) || col < 0 || col > len(lines[li]) || !bytes.HasPrefix(lines[li][col:], []byte(raw)) {
			return nil, fmt.Errorf("%w: cannot rewrite %q on line %d in place; write it as an absolute path", ErrConfig, n.Value, n.Line)
		}
		line := lines[li]
		lines[li] = slices.Concat(line[:col:col], []byte(repl), line[col+len(raw):])
	}
	return bytes.Join(lines, nil), nil
}
