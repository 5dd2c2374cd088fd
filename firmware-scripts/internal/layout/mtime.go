package layout

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

// SourceDateEpoch returns the modification time to stamp on every packaged
// file: $SOURCE_DATE_EPOCH (see reproducible-builds.org) when set, the Unix
// epoch otherwise, so that the same inputs always give the same archive.
func SourceDateEpoch() (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a non-negative number of seconds", s)
	}
	return time.Unix(n, 0).UTC(), nil
}
