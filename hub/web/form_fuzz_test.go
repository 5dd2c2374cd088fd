package web

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzJSONNumber: whatever an operator types in a threshold field
// becomes valid JSON, a number only when it is one.
func FuzzJSONNumber(f *testing.F) {
	for _, s := range []string{"7.5", "-3", "1e3", "NaN", "Inf", "0x10", `"}`, "1e999", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := jsonNumber(s)
		var v any
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("jsonNumber(%q) = %s, not JSON: %v", s, out, err)
		}
		// Invalid UTF-8 comes back with replacement characters.
		if str, isString := v.(string); isString && str != s && utf8.ValidString(s) {
			t.Fatalf("jsonNumber(%q) changed the text to %q", s, str)
		}
	})
}

func TestLocalPath(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"/alerts?device=cam-f", "/alerts?device=cam-f"},
		{"/devices/cam%20f#alerts", "/devices/cam%20f#alerts"},
		{"", "/alerts"},
		{"alerts", "/alerts"},
		{"//evil.example/x", "/alerts"},
		{"https://evil.example/", "/alerts"},
		{"/\\evil.example", "/alerts"},
		{"javascript:alert(1)", "/alerts"},
	} {
		if got := localPath(tt.in, "/alerts"); got != tt.want {
			t.Errorf("localPath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
