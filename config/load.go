package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// Load reads the configuration: the defaults, then the YAML file at path
// (none if path is ""), then OOD_AGENT_* environment variables, then the
// flags in flags (which may be nil) that were set on the command line and
// are named after a key, either exactly ("mqtt.broker") or with dots and
// underscores as dashes ("mqtt-broker"). Unknown keys in the file are
// errors. The result is validated; every problem found is reported, each
// as a *FieldError naming its key.
func Load(path string, flags *pflag.FlagSet) (*Config, error) {
	var data []byte
	if path != "" {
		var err error
		data, err = os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
	}
	c, err := load(data, flags, true)
	if err != nil {
		if path != "" {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
		return nil, fmt.Errorf("config: %w", err)
	}
	return c, nil
}

// load does the work of Load on YAML bytes. The environment is consulted
// only if env is true, which keeps fuzzing independent of it.
func load(data []byte, flags *pflag.FlagSet, env bool) (*Config, error) {
	v := viper.New()
	v.SetConfigType("yaml")
	v.AllowEmptyEnv(true) // so that OOD_AGENT_HTTP_LISTEN= can disable the server

	keys := Keys()
	def := reflect.ValueOf(*defaults())
	walk(def, "", func(key string, _ reflect.StructField, val reflect.Value) {
		if val.Kind() == reflect.Pointer && val.IsNil() {
			return // unset optional keys have no default
		}
		v.SetDefault(key, val.Interface())
	})
	for _, key := range keys {
		if env {
			if err := v.BindEnv(key, EnvName(key)); err != nil {
				return nil, fmt.Errorf("bind environment for %s: %w", key, err)
			}
		}
		if flags == nil {
			continue
		}
		f := flags.Lookup(key)
		if f == nil {
			f = flags.Lookup(FlagName(key))
		}
		if f != nil {
			if err := v.BindPFlag(key, f); err != nil {
				return nil, fmt.Errorf("bind flag for %s: %w", key, err)
			}
		}
	}

	// Every problem is reported in one run: unknown keys, values that do
	// not decode, and values that decode but are invalid. A key reported
	// once is not reported again by a later stage.
	var keyErrs []error
	if len(bytes.TrimSpace(data)) > 0 {
		var err error
		if keyErrs, err = checkKeys(data); err != nil {
			return nil, err
		}
		if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
			return nil, fmt.Errorf("parse: %w", err)
		}
	}

	c := new(Config)
	// Not UnmarshalExact: checkKeys has reported the unknown keys, by name
	// and with a suggestion.
	err := v.Unmarshal(c, func(dc *mapstructure.DecoderConfig) {
		dc.DecodeHook = mapstructure.ComposeDecodeHookFunc(
			durationHook,
			sliceHook,
		)
	})
	var decodeErrs []error
	if err != nil {
		decodeErrs = decodeErrors(err)
	}
	c.derive()
	errs := keyErrs
	reported := func(e error) bool {
		var fe *FieldError
		if !errors.As(e, &fe) {
			return false
		}
		for _, prev := range errs {
			var pe *FieldError
			if errors.As(prev, &pe) && (pe.Key == fe.Key || strings.HasPrefix(fe.Key, pe.Key+".")) {
				return true
			}
		}
		return false
	}
	for _, stage := range [][]error{decodeErrs, unjoin(c.Validate())} {
		var fresh []error
		for _, e := range stage {
			if !reported(e) {
				fresh = append(fresh, e)
			}
		}
		errs = append(errs, fresh...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// unjoin returns the errors joined in err, or err alone.
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// EnvName returns the environment variable that overrides key, e.g.
// OOD_AGENT_MQTT_TLS_CA_FILE for mqtt.tls.ca_file.
func EnvName(key string) string {
	return EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// FlagName returns the dashed flag name that Load also accepts for key,
// e.g. mqtt-tls-ca-file for mqtt.tls.ca_file.
func FlagName(key string) string {
	return strings.NewReplacer(".", "-", "_", "-").Replace(key)
}

// checkKeys returns the keys in the YAML document that Config does not
// have, and the sections given a value that is not a mapping, each as a
// *FieldError; err is set when the document does not parse. A section left
// empty (null) is accepted: templates often comment out its keys.
func checkKeys(data []byte) (problems []error, err error) {
	raw := viper.New()
	raw.SetConfigType("yaml")
	if err := raw.ReadConfig(bytes.NewReader(data)); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	known := make(map[string]bool)
	keys := Keys()
	for _, k := range keys {
		known[k] = true
	}
	secs := sections()
	var errs []error
	fileKeys := raw.AllKeys()
	sort.Strings(fileKeys)
	for _, k := range fileKeys {
		switch {
		case known[k]:
		case secs[k]:
			if raw.Get(k) != nil {
				errs = append(errs, &FieldError{Key: k, Msg: "must be a mapping of keys"})
			}
		default:
			msg := "unknown key"
			if s := closest(k, keys); s != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", s)
			}
			errs = append(errs, &FieldError{Key: k, Msg: msg})
		}
	}
	return errs, nil
}

// closest returns the key nearest to k by edit distance, if it is near
// enough to be a likely typo.
func closest(k string, keys []string) string {
	best, bestD := "", 3
	for _, c := range keys {
		if d := editDistance(k, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// decodeErrors turns mapstructure's errors into FieldErrors.
func decodeErrors(err error) []error {
	var out []error
	var visit func(error)
	visit = func(e error) {
		var de *mapstructure.DecodeError
		if errors.As(e, &de) && e == error(de) {
			out = append(out, &FieldError{Key: de.Name(), Msg: de.Unwrap().Error()})
			return
		}
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				visit(e)
			}
		case interface{ Unwrap() error }:
			visit(u.Unwrap())
		default:
			out = append(out, e)
		}
	}
	visit(err)
	return out
}

var durationType = reflect.TypeFor[time.Duration]()

// durationHook parses durations from strings and rejects bare numbers,
// which would otherwise silently become nanoseconds.
func durationHook(from, to reflect.Type, data any) (any, error) {
	if to != durationType || from == durationType {
		return data, nil
	}
	switch from.Kind() {
	case reflect.String:
		d, err := time.ParseDuration(reflect.ValueOf(data).String())
		if err != nil {
			return nil, fmt.Errorf("invalid duration %q, want a number with a unit such as \"30s\"", data)
		}
		return d, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		if reflect.ValueOf(data).IsZero() {
			return time.Duration(0), nil
		}
		return nil, fmt.Errorf("duration %v has no unit, want e.g. \"%vs\"", data, data)
	}
	return data, nil
}

// sliceHook splits comma-separated strings, as environment variables and
// flags give lists.
func sliceHook(from, to reflect.Type, data any) (any, error) {
	if from.Kind() != reflect.String || to.Kind() != reflect.Slice {
		return data, nil
	}
	s := reflect.ValueOf(data).String()
	if strings.TrimSpace(s) == "" {
		return []string{}, nil
	}
	parts := strings.Split(s, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts, nil
}
