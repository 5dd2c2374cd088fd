package config

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// redacted replaces secrets wherever a configuration is printed.
const redacted = "[REDACTED]"

// Secret is a string that is never printed: String, GoString, LogValue
// and MarshalText all return a placeholder. Use Reveal for the value.
type Secret string

// Reveal returns the secret itself.
func (s Secret) Reveal() string { return string(s) }

// String returns a placeholder, or "" if the secret is empty.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString returns a placeholder so that %#v does not print the secret.
func (s Secret) GoString() string { return strconv.Quote(s.String()) }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText returns the placeholder so that encoders never write the secret.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// ResolvePassword returns the broker password, read from PasswordFile when
// that is set. The file's surrounding white space is trimmed.
func (m MQTT) ResolvePassword() (string, error) {
	if m.PasswordFile == "" {
		return m.Password.Reveal(), nil
	}
	if m.Password != "" {
		return "", errors.New("mqtt.password and mqtt.password_file are both set")
	}
	b, err := os.ReadFile(m.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("mqtt.password_file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// String returns the configuration as YAML that Load accepts, with
// secrets and passwords inside URLs redacted.
func (c *Config) String() string {
	var b strings.Builder
	writeYAML(&b, reflect.ValueOf(*c), 0)
	return b.String()
}

// LogValue implements slog.LogValuer: the configuration as nested groups,
// with secrets and passwords inside URLs redacted.
func (c *Config) LogValue() slog.Value {
	return logValue(reflect.ValueOf(*c))
}

func writeYAML(b *strings.Builder, v reflect.Value, depth int) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		b.WriteString(strings.Repeat("  ", depth))
		b.WriteString(f.Tag.Get("mapstructure"))
		b.WriteString(":")
		if f.Type.Kind() == reflect.Struct {
			b.WriteString("\n")
			writeYAML(b, v.Field(i), depth+1)
			continue
		}
		b.WriteString(" ")
		b.WriteString(yamlScalar(printable(f, v.Field(i))))
		b.WriteString("\n")
	}
}

func yamlScalar(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(v)
	case time.Duration:
		return strconv.Quote(v.String())
	case float64:
		return yamlFloat(v)
	case []float64:
		s := make([]string, len(v))
		for i, f := range v {
			s[i] = yamlFloat(f)
		}
		return "[" + strings.Join(s, ", ") + "]"
	case []string:
		s := make([]string, len(v))
		for i, e := range v {
			s[i] = strconv.Quote(e)
		}
		return "[" + strings.Join(s, ", ") + "]"
	}
	return fmt.Sprint(v)
}

func yamlFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return ".nan"
	case math.IsInf(f, 1):
		return ".inf"
	case math.IsInf(f, -1):
		return "-.inf"
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eEn") {
		s += ".0" // keep it a float when read back
	}
	return s
}

func logValue(v reflect.Value) slog.Value {
	t := v.Type()
	attrs := make([]slog.Attr, 0, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("mapstructure")
		if f.Type.Kind() == reflect.Struct {
			attrs = append(attrs, slog.Attr{Key: name, Value: logValue(v.Field(i))})
			continue
		}
		attrs = append(attrs, slog.Any(name, printable(f, v.Field(i))))
	}
	return slog.GroupValue(attrs...)
}

// printable returns a leaf field's value as it may be shown: secrets
// replaced, passwords in URLs replaced, pointers dereferenced and slices
// copied so that the caller cannot change the configuration through them.
func printable(f reflect.StructField, v reflect.Value) any {
	switch x := v.Interface().(type) {
	case Secret:
		return x.String()
	case string:
		if f.Tag.Get("redact") == "url" {
			return redactURL(x)
		}
		return x
	case *float64:
		if x == nil {
			return nil
		}
		return *x
	case []float64:
		return append([]float64(nil), x...)
	case []string:
		return append([]string(nil), x...)
	}
	return v.Interface()
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		// Not a URL, but it may still hold credentials before a host.
		i, j := strings.Index(s, "://"), strings.LastIndex(s, "@")
		if i >= 0 && j > i {
			return s[:i+3] + redacted + s[j:]
		}
		return s
	}
	if _, ok := u.User.Password(); !ok {
		return s
	}
	return u.Redacted()
}
