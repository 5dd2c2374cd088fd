// Package control carries signed remote commands from the hub to an
// agent: the command format, its Ed25519 signature envelope, the checks an
// agent makes before obeying (trusted key, signature, target, expiry,
// replay), the Service that receives commands over MQTT, hands them to a
// Handler and publishes the results, and the Signer the hub signs with.
//
// A command is the JSON payload of an Envelope. The signature covers the
// exact payload bytes, prefixed by a purpose string, so no canonical JSON
// form is needed and a signature made for one purpose (a command) cannot be
// passed off as another (a model manifest). See docs/control.md.
package control
