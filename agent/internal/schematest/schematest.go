// Package schematest compiles the JSON Schemas in docs/schema and
// validates payloads against them, for the tests that keep the schemas
// true to the code.
package schematest

import (
	"bytes"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// dir is docs/schema, found from this file so that any package's tests
// can use it.
func dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "docs", "schema")
}

// Compile compiles a schema of docs/schema, such as
// "command.schema.json" or "command.schema.json#/$defs/envelope", with
// formats asserted.
func Compile(t testing.TB, ref string) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	s, err := c.Compile(filepath.Join(dir(), ref))
	if err != nil {
		t.Fatalf("compile %s: %v", ref, err)
	}
	return s
}

// Validate checks the JSON document data against s.
func Validate(s *jsonschema.Schema, data []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return err
	}
	return s.Validate(inst)
}
