package feedback

import (
	"bytes"
	"context"
	"os"
	"slices"
	"testing"
)

func TestRecorderCopiesAndStoresInTheBackground(t *testing.T) {
	dir := t.TempDir()
	s := open(t, Options{Dir: dir, Reservoir: 2, Evidence: true})
	rec := NewRecorder(s, 4, nil)
	// The caller reuses its buffers right after handing them over, as the
	// detector does on its next run.
	r := flagged(1)
	rec.Flagged(r)
	r.Features[0], r.JPEG[0] = 99, 'x'
	for i := range 3 {
		u := flagged(10 + i)
		u.AlertID = ""
		rec.Unflagged(rec.Draw(), u)
	}
	// Queues of 4: the fifth unflagged record is dropped, not waited
	// for, and a flagged one still has room in its own queue.
	rec.Unflagged(0, flagged(20))
	rec.Unflagged(0, flagged(21))
	rec.Flagged(flagged(2))
	if rec.Dropped() != 1 {
		t.Errorf("dropped %d, want 1", rec.Dropped())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := rec.Run(ctx); err != nil {
		t.Fatal(err)
	}
	s = open(t, Options{Dir: dir, Reservoir: 2})
	if got := ids(s.List()); !slices.Equal(got, []string{"a-002", "a-001"}) { // newest first
		t.Errorf("flagged %v", got)
	}
	if s.Seen() != 3 {
		t.Errorf("seen %d, want 3", s.Seen())
	}
	stored, _, err := readRecord(s.path(flaggedDir, "a-001"+recExt))
	if err != nil || stored.Features[0] != flagged(1).Features[0] {
		t.Errorf("stored features %v (%v): the recorder did not copy", stored.Features, err)
	}
	if jpg, _ := os.ReadFile(s.path(flaggedDir, "a-001"+jpgExt)); !bytes.Equal(jpg, flagged(1).JPEG) {
		t.Errorf("stored evidence %q", jpg)
	}
}
