package feedback

import (
	"bytes"
	"testing"
)

// FuzzDecodeRecord checks that no damaged file crashes the store's open,
// and that whatever decodes re-encodes to the same bytes.
func FuzzDecodeRecord(f *testing.F) {
	for i, p := range []Precision{Float32, Float16} {
		r := flagged(i)
		data, _ := appendRecord(nil, &r, p)
		f.Add(data)
		f.Add(data[:len(data)-1])
	}
	f.Add([]byte("OODF"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodeRecord(data)
		if err != nil {
			return
		}
		again, err := appendRecord(nil, &r, Precision(data[5]))
		if err != nil {
			t.Fatalf("decoded record does not encode: %v", err)
		}
		if Precision(data[5]) == Float32 && !bytes.Equal(again, data) {
			t.Fatalf("round trip changed the record:\n%x\n%x", data, again)
		}
	})
}

// FuzzServiceMessage feeds arbitrary MQTT payloads to the service, with
// and without keys: every one gets a result, and only schema-valid
// feedback for a stored alert is applied.
func FuzzServiceMessage(f *testing.F) {
	for _, s := range []string{
		`{"id":"f-1","alert_id":"a-001","label":"false_alarm","class":"dog"}`,
		`{"id":"f-2","alert_id":"a-002","label":"confirmed"}`,
		`{"id":"f-3","alert_id":"a-001","label":"false_alarm","class":7}`,
		`{"payload":"eyJpZCI6MX0","key_id":"ab","signature":"cd"}`,
		`[]`, `{"id":"f","class":1e400}`,
	} {
		f.Add([]byte(s))
	}
	store, err := Open(Options{Dir: f.TempDir(), Seed: 1})
	if err != nil {
		f.Fatal(err)
	}
	for i := range 3 {
		store.AddFlagged(flagged(i))
	}
	svc, err := NewService(ServiceOptions{Prefix: "ood", Device: "cam-a", Labeler: store, Transport: nopTransport{}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		r := svc.apply(raw)
		if r.OK == (r.Code != "") {
			t.Fatalf("result ok=%v with code %q", r.OK, r.Code)
		}
		if r.OK && (r.Label != FalseAlarm && r.Label != Confirmed || checkID(r.AlertID) != nil) {
			t.Fatalf("applied an invalid message: %+v", r)
		}
	})
}

// FuzzReadFeatures checks that no features file crashes the reader and
// that what it accepts is consistent.
func FuzzReadFeatures(f *testing.F) {
	f.Add([]byte(`{"id":"a","set":"kept","predicted":1,"score":0,"logits":[1],"features":[1,2],"model":"m"}` + "\n"))
	f.Add([]byte(`{"id":"a","set":"false_alarm","class":"3","features":[0.5]}` + "\n\n" + `{"id":"b","set":"confirmed","features":[1e30]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		lines, err := ReadFeatures(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, l := range lines {
			if len(l.Features) != len(lines[0].Features) || l.Model != lines[0].Model {
				t.Fatalf("inconsistent lines accepted: %+v", lines)
			}
		}
	})
}
