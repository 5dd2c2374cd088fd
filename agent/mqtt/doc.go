// Package mqtt connects the agent, and the hub, to an MQTT broker and
// publishes and receives with acknowledged delivery.
//
// It is the only package of the project that imports the Paho client, and
// it exists to hide Paho's delivery pitfalls from the rest of the code:
//
//   - Publish returns nil only once the broker has acknowledged the
//     message (PUBACK for QoS 1, PUBCOMP for QoS 2). If the connection is
//     lost while waiting, Publish returns an error even when Paho later
//     completes the token during a session resume, because Paho cannot
//     tell whether the message arrived. The durable outbox relies on this:
//     it deletes a message only after a nil Publish, so a message is sent
//     at least once and receivers drop duplicates by message id.
//   - Connection attempts, at boot and after a lost connection, are made
//     by the Client's own loop with capped exponential backoff and full
//     jitter (package backoff), not by Paho's ConnectRetry or AutoReconnect.
//   - After every connection the Client re-subscribes, publishes the
//     retained "online" status and runs the OnConnect hook; a will
//     carries the retained "offline" status when the link dies, and Close
//     publishes it before a clean disconnect, which fires no will.
//   - With Options.ManualAck a received message is acknowledged only when
//     its handler says so (Message.Ack), so that the hub can acknowledge
//     after its database commit; shared subscriptions ($share/<group>/…)
//     are routed once, by the topic their messages arrive on.
//
// Passwords are never logged or included in errors.
package mqtt
