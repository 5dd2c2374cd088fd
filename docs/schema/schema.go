// Package schema embeds the JSON Schemas of the MQTT payloads (documented
// in docs/mqtt.md) so that programs, such as the hub's ingest, can
// validate what they receive against the very files the documentation
// links to.
package schema

import "embed"

// FS holds every *.schema.json of docs/schema.
//
//go:embed *.schema.json
var FS embed.FS
