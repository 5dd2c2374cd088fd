// Package feedback keeps what an operator needs to teach the device from
// the field: for each flagged frame its logits, penultimate features and
// evidence JPEG, a reservoir sample of unflagged frames, and the labels an
// operator gives alerts (false alarm, optionally with the true class, or
// confirmed). The Store lives in the agent's state directory, is bounded in
// records and bytes, survives crashes (every file is written atomically and
// a damaged record is skipped), and exports the layout `ood-agent adapt`
// reads. The Service applies labels received over MQTT. See
// docs/feedback.md.
package feedback
