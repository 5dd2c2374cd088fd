package config

import (
	"bytes"
	"os"
	"reflect"
	"testing"

	"github.com/spf13/viper"
)

const exampleFile = "agent.example.yaml"

// TestExampleValid keeps agent.example.yaml true to the code: it must
// load, validate, and give exactly the defaults.
func TestExampleValid(t *testing.T) {
	c, err := load(readExample(t), nil, false)
	if err != nil {
		t.Fatalf("load(%s) error: %v", exampleFile, err)
	}
	if want := Default(); !reflect.DeepEqual(c, want) {
		_, changed := Diff(want, c)
		t.Errorf("%s differs from the defaults in %q", exampleFile, changed)
	}
}

func TestExampleHasEveryKey(t *testing.T) {
	raw := viper.New()
	raw.SetConfigType("yaml")
	if err := raw.ReadConfig(bytes.NewReader(readExample(t))); err != nil {
		t.Fatal(err)
	}
	inFile := make(map[string]bool)
	for _, k := range raw.AllKeys() {
		inFile[k] = true
	}
	keys := Keys()
	if len(keys) < 60 {
		t.Fatalf("Keys() returned only %d keys", len(keys))
	}
	for _, k := range keys {
		if !inFile[k] {
			t.Errorf("%s lacks key %s", exampleFile, k)
		}
	}
}

func readExample(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(exampleFile)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
