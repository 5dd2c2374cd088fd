package event

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrInvalidTopic is wrapped by the errors for a prefix or device id that
// cannot be used in MQTT topics.
var ErrInvalidTopic = errors.New("event: invalid MQTT topic")

// DefaultQoS is the QoS of every message the agent publishes: at least
// once, with receivers dropping duplicates by id.
const DefaultQoS = 1

// maxTopicLen is the MQTT limit on a topic name's UTF-8 length.
const maxTopicLen = 65535

// Topics lays out the agent's topics under Prefix, one subtree per
// device:
//
//	<prefix>/<device_id>/alert           alert and event_* messages
//	<prefix>/<device_id>/status          Status, retained
//	<prefix>/<device_id>/stats           Stats
//	<prefix>/<device_id>/evidence/<id>   JPEG bytes of the message <id>
//
// Prefix may span several levels ("factory/line1/ood"). Make Topics with
// NewTopics, or call Validate, before using them.
type Topics struct {
	Prefix   string
	DeviceID string
}

// NewTopics returns the Topics for prefix and deviceID after checking
// them with Validate.
func NewTopics(prefix, deviceID string) (Topics, error) {
	t := Topics{Prefix: prefix, DeviceID: deviceID}
	if err := t.Validate(); err != nil {
		return Topics{}, err
	}
	return t, nil
}

// Validate checks that Prefix and DeviceID make valid topic names; see
// ValidatePrefix and ValidateDeviceID.
func (t Topics) Validate() error {
	if err := ValidatePrefix(t.Prefix); err != nil {
		return err
	}
	if err := ValidateDeviceID(t.DeviceID); err != nil {
		return err
	}
	// The longest topic is an evidence topic with a 36-byte id.
	if n := len(t.Evidence("")) + 36; n > maxTopicLen {
		return fmt.Errorf("%w: topics would be %d bytes long, the limit is %d", ErrInvalidTopic, n, maxTopicLen)
	}
	return nil
}

func (t Topics) base() string { return t.Prefix + "/" + t.DeviceID + "/" }

// Alert is the topic of alert and event_* messages.
func (t Topics) Alert() string { return t.base() + "alert" }

// Status is the retained topic of Status messages and of the last will.
func (t Topics) Status() string { return t.base() + "status" }

// Stats is the topic of Stats messages.
func (t Topics) Stats() string { return t.base() + "stats" }

// Adaptation is the topic of Adaptation messages.
func (t Topics) Adaptation() string { return t.base() + "adaptation" }

// Evidence is the topic of the JPEG attached to the message with the
// given id.
func (t Topics) Evidence(id string) string { return t.base() + "evidence/" + id }

// ValidatePrefix checks a topic prefix: one or more non-empty levels
// separated by "/", without the wildcards "+" and "#", NUL or other
// control characters, in valid UTF-8, and not starting with "$", which
// brokers reserve for their own topics. A leading or trailing "/" is
// refused: it would make an empty level that other tools easily miss.
func ValidatePrefix(prefix string) error {
	if prefix == "" {
		return fmt.Errorf("%w: prefix must not be empty", ErrInvalidTopic)
	}
	if strings.HasPrefix(prefix, "$") {
		return fmt.Errorf("%w: prefix %q must not start with $, which brokers reserve", ErrInvalidTopic, prefix)
	}
	if strings.HasPrefix(prefix, "/") || strings.HasSuffix(prefix, "/") {
		return fmt.Errorf("%w: prefix %q must not start or end with /", ErrInvalidTopic, prefix)
	}
	if strings.Contains(prefix, "//") {
		return fmt.Errorf("%w: prefix %q must not contain an empty level (//)", ErrInvalidTopic, prefix)
	}
	if err := checkTopicChars(prefix); err != nil {
		return fmt.Errorf("%w: prefix %q %v", ErrInvalidTopic, prefix, err)
	}
	return nil
}

// ValidateDeviceID checks a device id, which is one topic level: not
// empty, without "/", "+", "#", NUL or other control characters, and in
// valid UTF-8.
func ValidateDeviceID(id string) error {
	if id == "" {
		return fmt.Errorf("%w: device id must not be empty", ErrInvalidTopic)
	}
	if strings.Contains(id, "/") {
		return fmt.Errorf("%w: device id %q must not contain /", ErrInvalidTopic, id)
	}
	if err := checkTopicChars(id); err != nil {
		return fmt.Errorf("%w: device id %q %v", ErrInvalidTopic, id, err)
	}
	return nil
}

// checkTopicChars refuses the wildcards, invalid UTF-8 and the control
// characters the MQTT specification forbids (NUL) or advises against
// (U+0001–U+001F, U+007F–U+009F).
func checkTopicChars(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("is not valid UTF-8")
	}
	for _, r := range s {
		switch {
		case r == '+' || r == '#':
			return fmt.Errorf("must not contain the wildcard %q", r)
		case r == 0:
			return errors.New("must not contain NUL")
		case unicode.IsControl(r):
			return fmt.Errorf("must not contain the control character %U", r)
		}
	}
	return nil
}
