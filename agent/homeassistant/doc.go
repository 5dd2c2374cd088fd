// Package homeassistant builds the MQTT discovery messages that make an
// agent appear in Home Assistant on its own: a binary sensor "out of
// distribution" fed by the alert topic, sensors for the median energy,
// the OOD rate and the frame rate fed by the stats topic, and
// availability from the retained status topic.
//
// The messages are retained, so Home Assistant finds the entities after
// its own restarts; Removal returns the empty retained messages that
// delete them, for an uninstall. The package only builds messages: the
// caller publishes them (after each connection, since a broker without
// persistence forgets retained messages on restart).
package homeassistant
