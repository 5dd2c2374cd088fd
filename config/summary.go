package config

import (
	"log/slog"
	"reflect"
)

// Summary returns the keys whose values differ from the defaults, in the
// order of Keys, with secrets and passwords in URLs redacted: a compact
// start-up log line instead of every key.
func (c *Config) Summary() []slog.Attr {
	def := make(map[string]any)
	walk(reflect.ValueOf(*Default()), "", func(key string, _ reflect.StructField, v reflect.Value) {
		def[key] = v.Interface()
	})
	var attrs []slog.Attr
	walk(reflect.ValueOf(*c), "", func(key string, f reflect.StructField, v reflect.Value) {
		if !equal(def[key], v.Interface()) {
			attrs = append(attrs, slog.Any(key, printable(f, v)))
		}
	})
	return attrs
}
