package event

import (
	"errors"
	"strings"
	"testing"
)

func TestTopics(t *testing.T) {
	tp, err := NewTopics("factory/line-1/ood", "cam-01")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ got, want string }{
		{tp.Alert(), "factory/line-1/ood/cam-01/alert"},
		{tp.Status(), "factory/line-1/ood/cam-01/status"},
		{tp.Stats(), "factory/line-1/ood/cam-01/stats"},
		{tp.Evidence("0195940a-6f68-7abc-8def-0123456789ab"), "factory/line-1/ood/cam-01/evidence/0195940a-6f68-7abc-8def-0123456789ab"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("topic = %q, want %q", tt.got, tt.want)
		}
	}
}

func TestTopicsValidate(t *testing.T) {
	tests := []struct {
		prefix, device string
		wantErr        string // substring; empty means valid
	}{
		{"ood", "cam-01", ""},
		{"a/b/c", "gateway_7.local", ""},
		{"ood", "kamera-ü", ""},
		{"ood", "$cam", ""}, // only the first level is reserved
		{"", "cam", "prefix must not be empty"},
		{"/ood", "cam", "must not start or end with /"},
		{"ood/", "cam", "must not start or end with /"},
		{"a//b", "cam", "empty level"},
		{"$SYS", "cam", "must not start with $"},
		{"ood/+", "cam", "wildcard '+'"},
		{"ood/#", "cam", "wildcard '#'"},
		{"o\x00d", "cam", "NUL"},
		{"o\x1bd", "cam", "control character U+001B"},
		{"o\xffd", "cam", "not valid UTF-8"},
		{"ood", "", "device id must not be empty"},
		{"ood", "cam/1", "must not contain /"},
		{"ood", "cam+1", "wildcard '+'"},
		{"ood", "cam#", "wildcard '#'"},
		{"ood", "cam\x00", "NUL"},
		{"ood", "cam\u0085", "control character U+0085"},
		{"ood", "cam\xc3", "not valid UTF-8"},
		{strings.Repeat("p", 65500), "cam", "bytes long"},
	}
	for _, tt := range tests {
		_, err := NewTopics(tt.prefix, tt.device)
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("NewTopics(%q, %q) = %v, want nil", short(tt.prefix), tt.device, err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalidTopic) || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("NewTopics(%q, %q) = %v, want ErrInvalidTopic mentioning %q", short(tt.prefix), tt.device, err, tt.wantErr)
		}
	}
}

func short(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// FuzzTopics checks that whatever passes validation yields topics with
// exactly the expected levels and no wildcards or NUL.
func FuzzTopics(f *testing.F) {
	f.Add("ood", "cam-01")
	f.Add("a/b", "c")
	f.Add("/x", "y+")
	f.Add("a//b", "#")
	f.Add("$SYS", "\x00")
	f.Fuzz(func(t *testing.T, prefix, device string) {
		tp, err := NewTopics(prefix, device)
		if err != nil {
			return
		}
		for _, topic := range []string{tp.Alert(), tp.Status(), tp.Stats(), tp.Evidence("id")} {
			if strings.ContainsAny(topic, "+#\x00") || strings.HasPrefix(topic, "/") || strings.HasPrefix(topic, "$") {
				t.Errorf("NewTopics(%q, %q) gave topic %q", prefix, device, topic)
			}
			levels := strings.Split(topic, "/")
			for _, l := range levels {
				if l == "" {
					t.Errorf("NewTopics(%q, %q) gave topic %q with an empty level", prefix, device, topic)
				}
			}
			if got := levels[strings.Count(prefix, "/")+1]; got != device {
				t.Errorf("topic %q: device level %q, want %q", topic, got, device)
			}
		}
	})
}
