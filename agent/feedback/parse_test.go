package feedback

import (
	"testing"

	"github.com/ood-agent/ood-agent/agent/internal/schematest"
)

// TestParseAgreesWithSchema keeps the service's hand-written checks and
// docs/schema/feedback.schema.json saying the same of every payload.
func TestParseAgreesWithSchema(t *testing.T) {
	sch := schematest.Compile(t, "feedback.schema.json")
	s := &Service{}
	for _, payload := range []string{
		`{"id":"fb-1","alert_id":"a1","label":"confirmed"}`,
		`{"v":1,"id":"fb-1","alert_id":"a1","label":"false_alarm","class":"Sneaker"}`,
		`{"id":"fb-1","alert_id":"a1","label":"false_alarm","class":7}`,
		`{"id":"fb-1","alert_id":"a1","label":"false_alarm","class":0}`,
		`{"id":"fb-1","alert_id":"a1","label":"false_alarm","class":"T shirt"}`,
		`{"id":"fb-1","alert_id":"a1","label":"false_alarm"}`,
		`{"v":2,"id":"fb-1","alert_id":"a1","label":"confirmed"}`,
		`{"id":"fb-1","alert_id":"a1","label":"confirmed","class":"Bag"}`,
		`{"id":"fb-1","alert_id":"a1","label":"maybe"}`,
		`{"id":"fb-1","alert_id":"a1"}`,
		`{"alert_id":"a1","label":"confirmed"}`,
		`{"id":"fb-1","alert_id":".hidden","label":"confirmed"}`,
		`{"id":"","alert_id":"a1","label":"confirmed"}`,
		`{"id":"fb/1","alert_id":"a1","label":"confirmed"}`,
		`{"id":"fb-1","alert_id":"a1","label":"false_alarm","class":"a/b"}`,
		`{"id":"fb-1","alert_id":"a1","label":"false_alarm","class":".."}`,
		`{"id":"fb-1","alert_id":"a1","label":"false_alarm","class":""}`,
		`{"id":"fb-1","alert_id":"a1","label":"false_alarm","class":-1}`,
		`{"id":"fb-1","alert_id":"a1","label":"false_alarm","class":1.5}`,
		`{"id":"fb-1","alert_id":"a1","label":"false_alarm","class":true}`,
		`{"id":"fb-1","alert_id":"a1","label":"confirmed","extra":1}`,
		`{"id":1,"alert_id":"a1","label":"confirmed"}`,
		`{"id":"fb-1","alert_id":"01JF0Q0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000","label":"confirmed"}`,
	} {
		_, err := s.parse([]byte(payload))
		schemaErr := schematest.Validate(sch, []byte(payload))
		if (err == nil) != (schemaErr == nil) {
			t.Errorf("parse(%s) error = %v, schema says %v", payload, err, schemaErr)
		}
	}
}
