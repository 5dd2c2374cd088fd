package control

import (
	"encoding/json"
	"testing"
	"time"
)

func TestSignerRoundTrip(t *testing.T) {
	key := newKey(t)
	s := NewSigner(key)
	s.now = func() time.Time { return t0 }
	v := newVerifier(t, ringOf(key), "cam-a", "lobby")
	drafts := []Draft{
		{Target: Device("cam-a"), Type: TypeSetThreshold, Args: &SetThresholdArgs{Threshold: ptr(-7.5)}},
		{Target: Group("lobby"), Type: TypeSetDecision, Args: &SetDecisionArgs{Mode: ptr("stream"), K: ptr(2), N: ptr(3), CooldownS: ptr(30.0)}},
		{Target: All, Type: TypeSnapshot},
		{Target: Device("cam-a"), Type: TypeRollout, Args: &RolloutArgs{Manifest: json.RawMessage(`{"payload":"e30"}`)}},
		{Target: Device("cam-a"), Type: TypeReportConfig, TTL: time.Minute},
	}
	var lastSeq uint64
	for _, d := range drafts {
		signed, env, err := s.SignCommand(d)
		if err != nil {
			t.Fatalf("SignCommand(%+v): %v", d, err)
		}
		if signed.Seq <= lastSeq {
			t.Errorf("sequence %d after %d: not increasing with a frozen clock", signed.Seq, lastSeq)
		}
		lastSeq = signed.Seq
		got, err := v.Verify(env)
		if err != nil {
			t.Fatalf("Verify(SignCommand(%s)): %v", d.Type, err)
		}
		gj, _ := json.Marshal(got.Args)
		dj, _ := json.Marshal(d.Args)
		if got.ID != signed.ID || got.Type != d.Type || got.Target != d.Target || string(gj) != string(dj) {
			t.Errorf("verified %+v (args %s), signed %+v (args %s)", got, gj, signed, dj)
		}
	}
	if _, _, err := s.SignCommand(Draft{Target: All, Type: TypeSetThreshold}); CodeOf(err) != CodeInvalidArgs {
		t.Errorf("signing set_threshold without args = %v, want invalid_args", err)
	}
	if _, _, err := s.SignCommand(Draft{Target: Device("a/b"), Type: TypePause}); err == nil {
		t.Error("signing for device a/b succeeded")
	}
}

func ptr[T any](v T) *T { return &v }

func TestTargetTopics(t *testing.T) {
	for _, tt := range []struct {
		target Target
		text   string
		topic  string
	}{
		{All, "all", "ood/all/cmd"},
		{Device("cam-1"), "device/cam-1", "ood/cam-1/cmd"},
		{Group("lobby"), "group/lobby", "ood/group/lobby/cmd"},
	} {
		if tt.target.String() != tt.text || tt.target.Topic("ood") != tt.topic {
			t.Errorf("%+v: text %q topic %q, want %q %q", tt.target, tt.target.String(), tt.target.Topic("ood"), tt.text, tt.topic)
		}
		back, err := ParseTarget(tt.text)
		if err != nil || back != tt.target {
			t.Errorf("ParseTarget(%q) = %+v, %v", tt.text, back, err)
		}
	}
}
