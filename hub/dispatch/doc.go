// Package dispatch is the hub's side of fleet control: it signs commands
// with the hub's key (agent/control.Signer), records each in the audit
// log before publishing it at QoS 1 on the target's command topic, and
// picks the devices of a percentage rollout. Operators' labels of alerts
// (feedback for the devices' adapt) go out the same way, signed for
// feedback and audited with the commands. The devices' answers come back
// through hub/ingest into the same store.
package dispatch
