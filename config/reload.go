package config

import (
	"reflect"
	"strings"
)

// Reloadable is the part of the configuration that a running agent
// applies without a restart.
type Reloadable struct {
	LogLevel string
	Decision Decision
}

// Reloadable returns a copy of the keys that may change at run time.
func (c *Config) Reloadable() Reloadable {
	d := c.Decision
	if d.Threshold != nil {
		t := *d.Threshold
		d.Threshold = &t
	}
	return Reloadable{LogLevel: c.Log.Level, Decision: d}
}

// IsReloadable reports whether a change to key takes effect without a
// restart.
func IsReloadable(key string) bool {
	return key == "log.level" || strings.HasPrefix(key, "decision.")
}

// Diff returns the keys whose values differ between old and new, in the
// order of Keys, and whether all of them are reloadable. Keys for which
// IsReloadable is false need a restart to take effect. Both arguments
// must be non-nil.
func Diff(old, new *Config) (reloadable bool, changed []string) {
	a := make(map[string]any)
	walk(reflect.ValueOf(*old), "", func(key string, _ reflect.StructField, v reflect.Value) {
		a[key] = v.Interface()
	})
	reloadable = true
	walk(reflect.ValueOf(*new), "", func(key string, _ reflect.StructField, v reflect.Value) {
		if !equal(a[key], v.Interface()) {
			changed = append(changed, key)
			reloadable = reloadable && IsReloadable(key)
		}
	})
	return reloadable, changed
}

// equal is reflect.DeepEqual, except that a nil slice equals an empty one:
// both mean "not set".
func equal(a, b any) bool {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	if va.Kind() == reflect.Slice && vb.Kind() == reflect.Slice && va.Len() == 0 && vb.Len() == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}
