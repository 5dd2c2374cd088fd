package kernels

import (
	"strings"
	"testing"
)

func TestParseLevel(t *testing.T) {
	tests := []struct {
		in   string
		want Level
		ok   bool
	}{
		{"generic", LevelGeneric, true},
		{"AVX2", LevelAVX2, true},
		{" dotprod ", LevelDotProd, true},
		{"auto", LevelAuto, true},
		{"sse9", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseLevel(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err == nil && tt.ok {
			if back, _ := ParseLevel(got.String()); back != got {
				t.Errorf("ParseLevel(%v.String()) = %v", got, back)
			}
		}
	}
}

func TestResolveLevel(t *testing.T) {
	levels := Levels()
	if levels[0] != LevelGeneric {
		t.Fatalf("Levels() = %v, want generic first", levels)
	}
	t.Setenv(EnvKernels, "")
	if got, err := ResolveLevel(LevelAuto); err != nil || got != BestLevel() {
		t.Errorf("ResolveLevel(auto) = %v, %v; want %v", got, err, BestLevel())
	}
	t.Setenv(EnvKernels, "generic")
	if got, err := ResolveLevel(LevelAuto); err != nil || got != LevelGeneric {
		t.Errorf("with %s=generic: ResolveLevel(auto) = %v, %v", EnvKernels, got, err)
	}
	t.Setenv(EnvKernels, "bogus")
	if _, err := ResolveLevel(LevelAuto); err == nil || !strings.Contains(err.Error(), EnvKernels) {
		t.Errorf("with %s=bogus: err = %v, want one naming the variable", EnvKernels, err)
	}
	// An explicit level wins over the environment.
	if got, err := ResolveLevel(LevelGeneric); err != nil || got != LevelGeneric {
		t.Errorf("ResolveLevel(generic) = %v, %v", got, err)
	}
	// No machine runs both amd64 and arm64 levels.
	for _, l := range []Level{LevelAVX2, LevelNEON} {
		if !Supported(l) {
			if _, err := ResolveLevel(l); err == nil || !strings.Contains(err.Error(), "not available") {
				t.Errorf("ResolveLevel(%v) = %v, want not available", l, err)
			}
			return
		}
	}
	t.Errorf("both avx2 and neon reported as supported: %v", levels)
}
