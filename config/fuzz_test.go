package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to the loader: it must never panic, and
// whatever it accepts must validate and survive a String round trip.
func FuzzLoad(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yml")
	files = append(files, exampleFile)
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("mqtt: {qos: 1e999}"))
	f.Add([]byte("decision: {threshold: .nan}"))
	f.Add([]byte("a: &a [*a, *a]"))
	f.Add([]byte("source:\n  dir:\n    pattern: !!binary aGVsbG8=\n"))

	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := load(data, nil, false)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("load accepted a config that does not validate: %v", err)
		}
		if c.MQTT.Password != "" {
			return // String redacts it, so it cannot round-trip
		}
		again, err := load([]byte(c.String()), nil, false)
		if err != nil {
			t.Fatalf("load(String()) error: %v\n%s", err, c)
		}
		if _, changed := Diff(c, again); changed != nil {
			t.Fatalf("load(String()) changed %q", changed)
		}
	})
}
