package feedback

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ood-agent/ood-agent/agent/internal/logtest"
)

var t0 = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

func flagged(i int) Record {
	return Record{
		AlertID: fmt.Sprintf("a-%03d", i), Time: t0.Add(time.Duration(i) * time.Second),
		Source: "cam0", Frame: fmt.Sprint(1000 + i), Class: i % 3, Label: []string{"cat", "dog", "ship"}[i%3],
		Score: -3.5 + float64(i), Threshold: -6.25, Model: "sha256:0f1e",
		Logits: []float32{1, -2, 0.5}, Features: []float32{0.25, 0, 3, float32(i)},
		JPEG: []byte("\xff\xd8jpeg" + fmt.Sprint(i)),
	}
}

func open(t *testing.T, opts Options) *Store {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRecordRoundTrip(t *testing.T) {
	for _, p := range []Precision{Float32, Float16} {
		r := flagged(7)
		data, err := appendRecord(nil, &r, p)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) != encodedSize(&r, p) {
			t.Errorf("precision %d: %d bytes, encodedSize says %d", p, len(data), encodedSize(&r, p))
		}
		got, err := decodeRecord(data)
		if err != nil {
			t.Fatalf("precision %d: %v", p, err)
		}
		want := r
		want.JPEG = nil
		// Every value of the test record is exact in float16.
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("precision %d:\n got %+v\nwant %+v", p, got, want)
		}
		data[len(data)/2] ^= 1
		if _, err := decodeRecord(data); !errors.Is(err, errCorrupt) {
			t.Errorf("precision %d: flipped bit decoded, err %v", p, err)
		}
	}
}

func TestStoreEvictsOldestByCountAndBytes(t *testing.T) {
	s := open(t, Options{MaxFlagged: 3, Evidence: true})
	for i := range 5 {
		if err := s.AddFlagged(flagged(i)); err != nil {
			t.Fatal(err)
		}
	}
	if got := ids(s.List()); !slices.Equal(got, []string{"a-004", "a-003", "a-002"}) {
		t.Errorf("after 5 adds with max 3: %v", got)
	}
	files, _ := filepath.Glob(filepath.Join(s.opts.Dir, flaggedDir, "*"))
	if len(files) != 6 {
		t.Errorf("%d files on disk, want 3 records and 3 JPEGs: %v", len(files), files)
	}

	r := flagged(0)
	one, _ := appendRecord(nil, &r, Float32)
	per := int64(len(one) + len(r.JPEG))
	// Room for two records in the flagged share (3/4) of MaxBytes.
	s = open(t, Options{MaxFlagged: 100, MaxBytes: (per*2 + per/2) * 4 / 3, Evidence: true})
	for i := range 4 {
		if err := s.AddFlagged(flagged(i)); err != nil {
			t.Fatal(err)
		}
	}
	if got := ids(s.List()); !slices.Equal(got, []string{"a-003", "a-002"}) {
		t.Errorf("byte bound: %v", got)
	}
	big := flagged(9)
	big.JPEG = make([]byte, 1<<20)
	if err := s.AddFlagged(big); err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Errorf("record larger than the store: %v", err)
	}
}

func ids(es []Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.AlertID)
	}
	return out
}

func TestStoreSurvivesDamage(t *testing.T) {
	dir := t.TempDir()
	s := open(t, Options{Dir: dir, Evidence: true})
	for i := range 3 {
		if err := s.AddFlagged(flagged(i)); err != nil {
			t.Fatal(err)
		}
	}
	fd := filepath.Join(dir, flaggedDir)
	// A torn record, a leftover temporary file, a JPEG whose record never
	// landed, and a record renamed to another alert's name.
	data, _ := os.ReadFile(filepath.Join(fd, "a-001.rec"))
	os.WriteFile(filepath.Join(fd, "a-001.rec"), data[:len(data)-7], 0o640)
	os.WriteFile(filepath.Join(fd, ".a-009.rec.tmp-123"), []byte("half"), 0o640)
	os.WriteFile(filepath.Join(fd, "a-008.jpg"), []byte("orphan"), 0o640)
	os.WriteFile(filepath.Join(fd, "zz.rec"), must(os.ReadFile(filepath.Join(fd, "a-002.rec"))), 0o640)

	log, logs := logtest.New()
	s = open(t, Options{Dir: dir, Log: log})
	if got := ids(s.List()); !slices.Equal(got, []string{"a-002", "a-000"}) {
		t.Errorf("after damage: %v", got)
	}
	if !strings.Contains(logs.String(), "a-001.rec") || !strings.Contains(logs.String(), "checksum") {
		t.Errorf("no warning about the torn record:\n%s", logs)
	}
	left, _ := os.ReadDir(fd)
	var names []string
	for _, n := range left {
		names = append(names, n.Name())
	}
	if want := []string{"a-000.jpg", "a-000.rec", "a-002.jpg", "a-002.rec"}; !slices.Equal(names, want) {
		t.Errorf("files left %v, want %v", names, want)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestStoreLabels(t *testing.T) {
	dir := t.TempDir()
	s := open(t, Options{Dir: dir, Now: func() time.Time { return t0 }})
	for i := range 3 {
		s.AddFlagged(flagged(i))
	}
	if _, err := s.Label("a-000", FalseAlarm, "dog"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Label("a-001", Confirmed, ""); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		id    string
		kind  Kind
		class string
		want  string
	}{
		{"a-404", Confirmed, "", "not in the feedback store"},
		{"a-000", "maybe", "", "want false_alarm or confirmed"},
		{"a-000", Confirmed, "cat", "no class"},
		{"a-000", FalseAlarm, "../x", "directory name"},
		{"../etc", Confirmed, "", "only letters"},
	} {
		if _, err := s.Label(c.id, c.kind, c.class); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Label(%q, %q, %q) = %v, want %q", c.id, c.kind, c.class, err, c.want)
		}
	}
	// Another process (the CLI) sees the labels, and a relabel replaces.
	other := open(t, Options{Dir: dir})
	if _, err := other.Label("a-001", FalseAlarm, ""); err != nil {
		t.Fatal(err)
	}
	// A label whose alert went (evicted by the agent while the CLI
	// labeled it) is removed when the agent next opens the store.
	os.WriteFile(filepath.Join(dir, labelsDir, "a-404.json"), []byte(`{"alert_id":"a-404","kind":"confirmed"}`), 0o640)
	open(t, Options{Dir: dir})
	if _, err := os.Stat(filepath.Join(dir, labelsDir, "a-404.json")); err == nil {
		t.Error("orphan label kept")
	}
	got := map[string]string{}
	for _, e := range s.List() {
		if e.Label != nil {
			got[e.AlertID] = string(e.Label.Kind) + "/" + e.Label.Class
		}
	}
	if want := map[string]string{"a-000": "false_alarm/dog", "a-001": "false_alarm/"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("labels %v, want %v", got, want)
	}
}

func TestReservoirIsUniformAndPersists(t *testing.T) {
	const k, n, trials = 4, 20, 3000
	counts := make([]int, n)
	for trial := range trials {
		s := &Store{slotBytes: make([]int64, k), rng: newRand(uint64(trial + 1))}
		held := make([]int, k)
		for i := range n {
			if tk := s.Draw(); tk.Keep() {
				held[tk] = i
			}
		}
		for _, i := range held {
			counts[i]++
		}
	}
	// Each frame is held with probability k/n = 0.2: 600 of 3000, with a
	// standard deviation of about 22.
	for i, c := range counts {
		if c < 500 || c > 700 {
			t.Errorf("frame %d kept %d times of %d, want about %d", i, c, trials, trials*k/n)
		}
	}

	dir := t.TempDir()
	s := open(t, Options{Dir: dir, Reservoir: 3})
	for i := range 50 {
		r := flagged(i)
		r.AlertID = ""
		if err := s.OfferUnflagged(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, Options{Dir: dir, Reservoir: 3})
	if s.Seen() != 50 {
		t.Errorf("seen %d after reopening, want 50", s.Seen())
	}
	files, _ := filepath.Glob(filepath.Join(dir, reservoirDir, "*.rec"))
	if len(files) != 3 {
		t.Errorf("reservoir files %v", files)
	}
	// A tool opening the store without trimming sees every sample.
	ro := open(t, Options{Dir: dir, Reservoir: -1, NoTrim: true})
	if sum, err := ro.Export(t.TempDir()); err != nil || sum.Kept != 3 {
		t.Errorf("NoTrim export: %+v, %v", sum, err)
	}
	// A smaller reservoir drops the slots beyond it.
	s = open(t, Options{Dir: dir, Reservoir: 2})
	files, _ = filepath.Glob(filepath.Join(dir, reservoirDir, "*.rec"))
	if len(files) != 2 {
		t.Errorf("reservoir of 2 holds %v", files)
	}
}

func TestExportLayout(t *testing.T) {
	s := open(t, Options{Evidence: true, Reservoir: 2})
	for i := range 4 {
		s.AddFlagged(flagged(i))
	}
	noJPEG := flagged(4)
	noJPEG.JPEG = nil
	s.AddFlagged(noJPEG)
	s.Label("a-000", FalseAlarm, "dog")
	s.Label("a-001", FalseAlarm, "") // predicted "dog"
	s.Label("a-002", Confirmed, "")
	s.Label("a-004", Confirmed, "")
	for i := range 2 {
		r := flagged(10 + i)
		r.AlertID = ""
		s.OfferUnflagged(r)
	}
	out := t.TempDir()
	sum, err := s.Export(out)
	if err != nil {
		t.Fatal(err)
	}
	if want := (ExportSummary{FalseAlarms: 2, Confirmed: 2, Kept: 2, Images: 5}); sum != want {
		t.Errorf("summary %+v, want %+v", sum, want)
	}
	var files []string
	filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
		if !d.IsDir() {
			rel, _ := filepath.Rel(out, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return err
	})
	want := []string{"confirmed/a-002.jpg", "false_alarms/dog/a-000.jpg", "false_alarms/dog/a-001.jpg", "features.jsonl", "kept/kept-1.jpg", "kept/kept-2.jpg"}
	if !slices.Equal(files, want) {
		t.Errorf("exported %v\nwant %v", files, want)
	}
	if got := must(os.ReadFile(filepath.Join(out, "false_alarms/dog/a-000.jpg"))); !bytes.Equal(got, flagged(0).JPEG) {
		t.Errorf("evidence %q", got)
	}
	lines := strings.Split(strings.TrimSpace(string(must(os.ReadFile(filepath.Join(out, "features.jsonl"))))), "\n")
	if len(lines) != 6 {
		t.Fatalf("%d feature lines", len(lines))
	}
	f, err := os.Open(filepath.Join(out, "features.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	read, err := ReadFeatures(f)
	if err != nil || len(read) != 6 {
		t.Fatalf("ReadFeatures: %d lines, %v", len(read), err)
	}
	if l := read[0]; l.ID != "a-004" || l.Set != "confirmed" || !slices.Equal(l.Features, flagged(4).Features) {
		t.Errorf("first line %+v", l)
	}
	if read[5].Set != "kept" || read[5].Class != "ship" || read[5].Model != "sha256:0f1e" {
		t.Errorf("last line %+v", read[5])
	}
}

func TestReadFeaturesRefuses(t *testing.T) {
	good := `{"id":"a","set":"kept","predicted":1,"score":0,"logits":[1],"features":[1,2],"model":"m"}`
	for _, c := range []struct{ in, want string }{
		{good + "\n{", "line 2"},
		{`{"id":"a","set":"maybe","features":[1]}`, "set \"maybe\""},
		{`{"id":"a","set":"kept","features":[]}`, "no features"},
		{good + "\n" + strings.Replace(good, "[1,2]", "[1]", 1), "1 features, line 1 has 2"},
		{good + "\n" + strings.Replace(good, `"m"`, `"n"`, 1), "computed by model"},
		{`{"id":"a","set":"kept","features":[1],"extra":1}`, "unknown field"},
	} {
		if _, err := ReadFeatures(strings.NewReader(c.in)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ReadFeatures(%q) = %v, want %q", c.in, err, c.want)
		}
	}
}
