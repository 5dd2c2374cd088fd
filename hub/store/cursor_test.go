package store

import "testing"

// FuzzCursor: any string either is refused or decodes to a cursor that
// encodes back to itself.
func FuzzCursor(f *testing.F) {
	f.Add(encodeCursor(1733300000000, "019593fa-5ce4-765e-9d2f-c939696a583f"))
	f.Add("")
	f.Add("!!")
	f.Fuzz(func(t *testing.T, c string) {
		ts, id, err := decodeCursor(c)
		if err != nil {
			return
		}
		if id == "" {
			t.Fatalf("cursor %q decoded to an empty id", c)
		}
		if again, _, err := decodeCursor(encodeCursor(ts, id)); err != nil || again != ts {
			t.Fatalf("cursor %q: round trip %d, %v", c, again, err)
		}
	})
}
