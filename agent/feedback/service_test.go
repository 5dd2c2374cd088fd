package feedback

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ood-agent/ood-agent/agent/control"
	"github.com/ood-agent/ood-agent/agent/internal/schematest"
	"github.com/ood-agent/ood-agent/agent/mqtt"
	"github.com/ood-agent/ood-agent/internal/mosquittotest"
)

func storeWith(t *testing.T, n int) *Store {
	t.Helper()
	s := open(t, Options{})
	for i := range n {
		if err := s.AddFlagged(flagged(i)); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func newKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	k, err := control.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ring(k ed25519.PrivateKey) control.KeyRing {
	pub := k.Public().(ed25519.PublicKey)
	return control.KeyRing{control.KeyID(pub): pub}
}

func seal(t *testing.T, k ed25519.PrivateKey, p control.Purpose, payload string) string {
	t.Helper()
	env, err := control.Seal(k, p, []byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	return string(env)
}

func TestServiceApply(t *testing.T) {
	key, other := newKey(t), newKey(t)
	good := `{"id":"f-1","alert_id":"a-001","label":"false_alarm","class":"dog"}`
	cases := []struct {
		name   string
		keys   control.KeyRing
		msg    string
		code   Code
		class  string
		errHas string
		// classes are the model's label names; nil skips the check.
		classes []string
	}{
		{"unsigned, control off", nil, good, "", "dog", "", nil},
		{"class index", nil, `{"v":1,"id":"f-2","alert_id":"a-001","label":"false_alarm","class":2}`, "", "2", "", nil},
		{"confirmed", nil, `{"id":"f-3","alert_id":"a-002","label":"confirmed"}`, "", "", "", nil},
		{"not json", nil, `{"id":`, CodeMalformed, "", "not a JSON object", nil},
		{"unknown label", nil, `{"id":"f-4","alert_id":"a-001","label":"maybe"}`, CodeInvalid, "", "feedback.schema.json", nil},
		{"confirmed with class", nil, `{"id":"f-5","alert_id":"a-001","label":"confirmed","class":"dog"}`, CodeInvalid, "", "feedback.schema.json", nil},
		{"extra field", nil, `{"id":"f-6","alert_id":"a-001","label":"confirmed","by":"me"}`, CodeInvalid, "", "feedback.schema.json", nil},
		{"path in class", nil, `{"id":"f-7","alert_id":"a-001","label":"false_alarm","class":"../x"}`, CodeInvalid, "", "feedback.schema.json", nil},
		{"unknown alert", nil, `{"id":"f-8","alert_id":"a-999","label":"confirmed"}`, CodeUnknownAlert, "", "not in the feedback store", nil},
		{"signed, control off", nil, seal(t, key, PurposeFeedback, good), CodeBadSignature, "", "control is off", nil},
		{"signed", ring(key), seal(t, key, PurposeFeedback, good), "", "dog", "", nil},
		{"unsigned, control on", ring(key), good, CodeUnsigned, "", "must be signed", nil},
		{"other key", ring(key), seal(t, other, PurposeFeedback, good), CodeUntrustedKey, "", "not in control.trusted_keys", nil},
		{"signed as a command", ring(key), seal(t, key, control.PurposeCommand, good), CodeBadSignature, "", "does not verify", nil},
		{"class of the model", nil, good, "", "dog", "", []string{"cat", "dog"}},
		{"class index of the model", nil, `{"id":"f-9","alert_id":"a-001","label":"false_alarm","class":1}`, "", "1", "", []string{"cat", "dog"}},
		{"class the model lacks", nil, `{"id":"f-10","alert_id":"a-001","label":"false_alarm","class":"Dog"}`, CodeInvalid, "", `no class "Dog"`, []string{"cat", "dog"}},
		{"class index past the model's", nil, `{"id":"f-11","alert_id":"a-001","label":"false_alarm","class":2}`, CodeInvalid, "", `no class "2"`, []string{"cat", "dog"}},
		{"confirmed, model checked", nil, `{"id":"f-12","alert_id":"a-002","label":"confirmed"}`, "", "", "", []string{"cat", "dog"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts := ServiceOptions{Prefix: "ood", Device: "cam-a", Labeler: storeWith(t, 3), Transport: nopTransport{}, Keys: c.keys}
			if c.classes != nil {
				opts.Classes = func() []string { return c.classes }
			}
			svc, err := NewService(opts)
			if err != nil {
				t.Fatal(err)
			}
			r := svc.apply([]byte(c.msg))
			if r.Code != c.code || r.OK != (c.code == "") || !strings.Contains(r.Message, c.errHas) {
				t.Errorf("result %+v, want code %q with %q", r, c.code, c.errHas)
			}
			if r.OK && r.Class != c.class {
				t.Errorf("class %q, want %q", r.Class, c.class)
			}
			if c.code != CodeMalformed && r.ID == "" {
				t.Errorf("result has no id: %+v", r)
			}
		})
	}
}

// nopTransport is for the tests that call apply directly and publish
// nothing.
type nopTransport struct{}

func (nopTransport) Subscribe(context.Context, string, byte, func(string, []byte)) error { return nil }
func (nopTransport) Publish(context.Context, string, []byte, byte, bool) error           { return nil }

func connect(t *testing.T, ctx context.Context, broker, id string) *mqtt.Client {
	t.Helper()
	c, err := mqtt.New(mqtt.Options{Broker: broker, ClientID: id, KeepAlive: 5 * time.Second, CleanSession: true})
	if err != nil {
		t.Fatal(err)
	}
	go c.Run(ctx)
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c.WaitConnected(wctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// TestServiceWithMosquitto labels alerts from a "hub" client through a
// real broker, signed, and checks the store and the published results.
func TestServiceWithMosquitto(t *testing.T) {
	broker := mosquittotest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	key := newKey(t)
	store := storeWith(t, 3)

	agent := connect(t, ctx, broker.URL(), "cam-a")
	svc, err := NewService(ServiceOptions{Prefix: "ood", Device: "cam-a", Labeler: store, Transport: agent, Keys: ring(key)})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Subscribe(ctx); err != nil {
		t.Fatal(err)
	}
	go svc.Run(ctx)

	hub := connect(t, ctx, broker.URL(), "hub")
	resultSchema := schematest.Compile(t, "feedback.schema.json#/$defs/result")
	results := make(chan Result, 8)
	if err := hub.Subscribe(ctx, "ood/+/feedback/result", 1, func(_ string, p []byte) {
		if err := schematest.Validate(resultSchema, p); err != nil {
			t.Errorf("result %s does not match the schema: %v", p, err)
		}
		var r Result
		if err := json.Unmarshal(p, &r); err != nil {
			t.Errorf("result %s: %v", p, err)
		}
		results <- r
	}); err != nil {
		t.Fatal(err)
	}
	send := []string{
		seal(t, key, PurposeFeedback, `{"id":"f-1","alert_id":"a-000","label":"false_alarm","class":"ship"}`),
		seal(t, key, PurposeFeedback, `{"id":"f-2","alert_id":"a-002","label":"confirmed"}`),
		`{"id":"f-3","alert_id":"a-001","label":"confirmed"}`, // unsigned: refused
	}
	for _, m := range send {
		if err := hub.Publish(ctx, Topic("ood", "cam-a"), []byte(m), 1, false); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]Result{}
	for len(got) < len(send) {
		select {
		case r := <-results:
			got[r.ID] = r
		case <-time.After(15 * time.Second):
			t.Fatalf("results so far: %+v", got)
		}
	}
	if r := got["f-1"]; !r.OK || r.Device != "cam-a" || r.AlertID != "a-000" {
		t.Errorf("f-1: %+v", r)
	}
	if r := got["f-3"]; r.OK || r.Code != CodeUnsigned {
		t.Errorf("f-3: %+v", r)
	}
	labels := map[string]string{}
	for _, e := range store.List() {
		if e.Label != nil {
			labels[e.AlertID] = string(e.Label.Kind) + "/" + e.Label.Class
		}
	}
	if len(labels) != 2 || labels["a-000"] != "false_alarm/ship" || labels["a-002"] != "confirmed/" {
		t.Errorf("labels in the store: %v", labels)
	}
}
