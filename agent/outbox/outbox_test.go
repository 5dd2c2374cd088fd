package outbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/ood-agent/ood-agent/agent/internal/logtest"
)

var testNow = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func openTest(t *testing.T, path string, opts Options) (*Outbox, *logtest.Buffer) {
	t.Helper()
	logs := new(logtest.Buffer)
	opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	if opts.Now == nil {
		opts.Now = func() time.Time { return testNow }
	}
	o, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open(%s) error: %v", path, err)
	}
	t.Cleanup(func() { o.Close() })
	return o, logs
}

func msg(id string) Message {
	return Message{ID: id, Topic: "ood/cam/alert", Payload: []byte("payload " + id), QoS: 1}
}

func putAll(t *testing.T, o *Outbox, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if _, err := o.Put(msg(id)); err != nil {
			t.Fatalf("Put(%s) error: %v", id, err)
		}
	}
}

// ids returns the IDs of everything queued, oldest first.
func ids(t *testing.T, o *Outbox) []string {
	t.Helper()
	entries, err := o.Peek(1 << 20)
	if err != nil {
		t.Fatalf("Peek error: %v", err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Message.ID)
	}
	return out
}

func TestPutPeekAck(t *testing.T) {
	o, _ := openTest(t, filepath.Join(t.TempDir(), "q.db"), Options{})
	putAll(t, o, "a", "b", "c")

	entries, err := o.Peek(2)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0].Message.ID != "a" || entries[1].Message.ID != "b" {
		t.Fatalf("Peek(2) = %+v, want a and b", entries)
	}
	if entries[0].Seq >= entries[1].Seq {
		t.Errorf("Peek(2) seqs %d, %d are not increasing", entries[0].Seq, entries[1].Seq)
	}
	if want := msg("a"); !entries[0].Message.Created.Equal(testNow) || !bytes.Equal(entries[0].Message.Payload, want.Payload) {
		t.Errorf("Peek(2)[0] = %+v, want payload %q created %v", entries[0].Message, want.Payload, testNow)
	}

	if err := o.Ack(entries[1].Seq); err != nil {
		t.Fatalf("Ack(%d) error: %v", entries[1].Seq, err)
	}
	if err := o.Ack(entries[1].Seq); err != nil {
		t.Errorf("second Ack(%d) error: %v, want nil", entries[1].Seq, err)
	}
	if err := o.Ack(999); err != nil {
		t.Errorf("Ack(999) of an unknown seq error: %v, want nil", err)
	}
	if got, want := ids(t, o), []string{"a", "c"}; !slices.Equal(got, want) {
		t.Errorf("after Ack, queue = %q, want %q", got, want)
	}
	if got, want := o.Stats(), (Stats{Depth: 2, Put: 3, Acked: 1}); got != want {
		t.Errorf("Stats() = %+v, want %+v", got, want)
	}
	if got := o.Len(); got != 2 {
		t.Errorf("Len() = %d, want 2", got)
	}
	if got, err := o.Peek(0); err != nil || got != nil {
		t.Errorf("Peek(0) = %v, %v, want nil, nil", got, err)
	}
}

func TestReopenKeepsQueueAndStats(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "dir", "q.db") // directories are created
	o, _ := openTest(t, path, Options{})
	putAll(t, o, "a", "b", "c")
	e, _ := o.Peek(1)
	if err := o.Ack(e[0].Seq); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatalf("Close error: %v", err)
	}

	o2, _ := openTest(t, path, Options{})
	if got, want := ids(t, o2), []string{"b", "c"}; !slices.Equal(got, want) {
		t.Errorf("after reopen, queue = %q, want %q", got, want)
	}
	if got, want := o2.Stats(), (Stats{Depth: 2, Put: 3, Acked: 1}); got != want {
		t.Errorf("after reopen, Stats() = %+v, want %+v", got, want)
	}
	putAll(t, o2, "d")
	entries, _ := o2.Peek(3)
	if len(entries) != 3 || entries[2].Seq <= entries[1].Seq {
		t.Errorf("seq after reopen: %+v, want increasing", entries)
	}
}

func TestDropPolicies(t *testing.T) {
	tests := []struct {
		policy      DropPolicy
		wantDropped []int
		wantErr     []bool
		wantQueue   []string
	}{
		{DropOldest, []int{0, 0, 0, 1, 1}, []bool{false, false, false, false, false}, []string{"3", "4", "5"}},
		{DropNewest, []int{0, 0, 0, 1, 1}, []bool{false, false, false, true, true}, []string{"1", "2", "3"}},
	}
	for _, tt := range tests {
		t.Run(tt.policy.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "q.db")
			o, logs := openTest(t, path, Options{MaxMessages: 3, DropPolicy: tt.policy})
			for i := range 5 {
				id := fmt.Sprint(i + 1)
				dropped, err := o.Put(msg(id))
				if dropped != tt.wantDropped[i] || (err != nil) != tt.wantErr[i] {
					t.Errorf("Put(%s) = %d, %v, want %d, error %v", id, dropped, err, tt.wantDropped[i], tt.wantErr[i])
				}
				if err != nil && !errors.Is(err, ErrFull) {
					t.Errorf("Put(%s) error = %v, want ErrFull", id, err)
				}
			}
			if got := ids(t, o); !slices.Equal(got, tt.wantQueue) {
				t.Errorf("queue = %q, want %q", got, tt.wantQueue)
			}
			if got := o.Stats(); got.Dropped != 2 || got.Depth != 3 {
				t.Errorf("Stats() = %+v, want Dropped 2, Depth 3", got)
			}
			if !strings.Contains(logs.String(), "dropped") {
				t.Errorf("no drop logged: %s", logs)
			}
			// Drops are counted across a restart, even those that wrote nothing.
			if err := o.Close(); err != nil {
				t.Fatal(err)
			}
			o2, _ := openTest(t, path, Options{MaxMessages: 3, DropPolicy: tt.policy})
			if got := o2.Stats().Dropped; got != 2 {
				t.Errorf("after reopen, Stats().Dropped = %d, want 2", got)
			}
		})
	}
}

func TestShrinkLimitOnReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	o, _ := openTest(t, path, Options{})
	putAll(t, o, "1", "2", "3", "4")
	o.Close()

	o2, _ := openTest(t, path, Options{MaxMessages: 2})
	dropped, err := o2.Put(msg("5"))
	if err != nil || dropped != 3 {
		t.Errorf("Put over a lowered limit = %d, %v, want 3, nil", dropped, err)
	}
	if got, want := ids(t, o2), []string{"4", "5"}; !slices.Equal(got, want) {
		t.Errorf("queue = %q, want %q", got, want)
	}
}

func TestPutInvalid(t *testing.T) {
	o, _ := openTest(t, filepath.Join(t.TempDir(), "q.db"), Options{})
	for _, m := range []Message{{}, {Topic: "ood/+"}, {Topic: "t", QoS: 3}} {
		if _, err := o.Put(m); err == nil {
			t.Errorf("Put(%+v) error = nil, want one", m)
		}
	}
	if o.Len() != 0 || o.Stats().Put != 0 {
		t.Errorf("invalid messages were stored: %+v", o.Stats())
	}
}

func TestCreatedKept(t *testing.T) {
	o, _ := openTest(t, filepath.Join(t.TempDir(), "q.db"), Options{})
	created := time.Date(2020, 5, 6, 7, 8, 9, 10, time.UTC)
	m := msg("a")
	m.Created = created
	putAll(t, o, "zero")
	if _, err := o.Put(m); err != nil {
		t.Fatal(err)
	}
	e, _ := o.Peek(2)
	if !e[0].Message.Created.Equal(testNow) || !e[1].Message.Created.Equal(created) {
		t.Errorf("Created = %v, %v, want %v (from Now), %v", e[0].Message.Created, e[1].Message.Created, testNow, created)
	}
}

func TestCorruptRecordRemoved(t *testing.T) {
	o, logs := openTest(t, filepath.Join(t.TempDir(), "q.db"), Options{})
	putAll(t, o, "a")
	// Records written behind the outbox's back, as damage would.
	err := o.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMessages)
		if err := b.Put(seqKey(100), []byte("garbage")); err != nil {
			return err
		}
		if err := b.Put([]byte("short"), []byte("x")); err != nil {
			return err
		}
		_, err := b.CreateBucket(seqKey(101))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	o.depth += 3
	if _, err := o.Put(msg("b")); err != nil {
		t.Fatal(err)
	}

	if got, want := ids(t, o), []string{"a", "b"}; !slices.Equal(got, want) {
		t.Errorf("queue = %q, want %q", got, want)
	}
	if got := o.Stats(); got.Corrupt != 3 || got.Depth != 2 {
		t.Errorf("Stats() = %+v, want Corrupt 3, Depth 2", got)
	}
	if n := strings.Count(logs.String(), "undecodable"); n != 3 {
		t.Errorf("logged %d undecodable records, want 3:\n%s", n, logs)
	}
	if got, want := ids(t, o), []string{"a", "b"}; !slices.Equal(got, want) {
		t.Errorf("second Peek = %q, want %q", got, want)
	}
}

func TestCorruptFileMovedAside(t *testing.T) {
	realDB := func(t *testing.T, path string) {
		o, _ := openTest(t, path, Options{})
		for i := range 30 {
			m := msg(fmt.Sprint(i))
			m.Payload = bytes.Repeat([]byte{byte(i)}, 1500)
			if _, err := o.Put(m); err != nil {
				t.Fatal(err)
			}
		}
		if err := o.Close(); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name   string
		damage func(t *testing.T, path string)
	}{
		{"short garbage", func(t *testing.T, path string) {
			os.WriteFile(path, []byte("this is not a database"), 0o600)
		}},
		{"large garbage", func(t *testing.T, path string) {
			os.WriteFile(path, bytes.Repeat([]byte("garbage!"), 8192), 0o600)
		}},
		{"truncated", func(t *testing.T, path string) {
			realDB(t, path)
			os.Truncate(path, 5000)
		}},
		{"meta pages zeroed", func(t *testing.T, path string) {
			realDB(t, path)
			overwrite(t, path, 0, make([]byte, 2*os.Getpagesize()))
		}},
		{"data pages garbage", func(t *testing.T, path string) {
			realDB(t, path)
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			// Everything after the two meta pages.
			meta := 2 * int64(os.Getpagesize())
			overwrite(t, path, meta, bytes.Repeat([]byte{0xa5}, int(fi.Size()-meta)))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "q.db")
			tt.damage(t, path)
			damaged, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			o, logs := openTest(t, path, Options{})
			if n := o.Len(); n != 0 {
				t.Errorf("Len() = %d, want an empty queue", n)
			}
			aside := fmt.Sprintf("%s.corrupt-%d", path, testNow.Unix())
			moved, err := os.ReadFile(aside)
			if err != nil {
				t.Fatalf("damaged file not moved aside: %v", err)
			}
			if !bytes.Equal(moved, damaged) {
				t.Errorf("%s does not hold the damaged file", aside)
			}
			if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), aside) {
				t.Errorf("no error naming %s logged:\n%s", aside, logs)
			}
			putAll(t, o, "fresh")
			if got := ids(t, o); !slices.Equal(got, []string{"fresh"}) {
				t.Errorf("new queue = %q, want [fresh]", got)
			}
		})
	}
}

func TestMoveAsideKeepsEarlierCopies(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "q.db")
	for i := range 2 {
		os.WriteFile(path, []byte(fmt.Sprint("garbage ", i)), 0o600)
		o, _ := openTest(t, path, Options{})
		o.Close()
	}
	matches, _ := filepath.Glob(path + ".corrupt-*")
	if len(matches) != 2 {
		t.Errorf("files moved aside = %q, want 2", matches)
	}
}

func overwrite(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func TestLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	openTest(t, path, Options{})
	start := time.Now()
	o, err := Open(path, Options{LockTimeout: 100 * time.Millisecond})
	if err == nil {
		o.Close()
		t.Fatal("second Open succeeded, want ErrLocked")
	}
	if !errors.Is(err, ErrLocked) {
		t.Errorf("second Open error = %v, want ErrLocked", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("second Open took %v, want about the lock timeout", d)
	}
	if matches, _ := filepath.Glob(path + ".corrupt-*"); matches != nil {
		t.Errorf("a locked file was moved aside: %q", matches)
	}
}

func TestOpenOptions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	for _, opts := range []Options{{MaxMessages: -1}, {DropPolicy: 7}} {
		if o, err := Open(path, opts); err == nil {
			o.Close()
			t.Errorf("Open(%+v) error = nil, want one", opts)
		}
	}
}

func TestParseDropPolicy(t *testing.T) {
	tests := []struct {
		in      string
		want    DropPolicy
		wantErr bool
	}{
		{"oldest", DropOldest, false},
		{"newest", DropNewest, false},
		{"random", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseDropPolicy(tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("ParseDropPolicy(%q) = %v, %v, want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestNotify(t *testing.T) {
	o, _ := openTest(t, filepath.Join(t.TempDir(), "q.db"), Options{})
	ch := o.Notify()
	if isClosed(ch) {
		t.Fatal("Notify() is ready on an empty queue")
	}
	putAll(t, o, "a")
	if !isClosed(ch) {
		t.Fatal("Notify() channel not closed after Put")
	}
	e, _ := o.Peek(1)
	o.Ack(e[0].Seq)
	ch = o.Notify()
	if isClosed(ch) {
		t.Fatal("Notify() is ready after the queue was drained")
	}
	o.Close()
	if !isClosed(ch) {
		t.Fatal("Notify() channel not closed by Close")
	}
}

func TestWait(t *testing.T) {
	o, _ := openTest(t, filepath.Join(t.TempDir(), "q.db"), Options{})

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := o.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait on an empty queue = %v, want DeadlineExceeded", err)
	}

	go func() {
		time.Sleep(10 * time.Millisecond)
		o.Put(msg("a"))
	}()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if err := o.Wait(ctx2); err != nil || o.Len() != 1 {
		t.Errorf("Wait while a message is put = %v with Len %d, want nil with Len 1", err, o.Len())
	}

	o.Close()
	if err := o.Wait(ctx2); !errors.Is(err, ErrClosed) {
		t.Errorf("Wait after Close = %v, want ErrClosed", err)
	}
}

func TestClosed(t *testing.T) {
	o, _ := openTest(t, filepath.Join(t.TempDir(), "q.db"), Options{})
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	if _, err := o.Put(msg("a")); !errors.Is(err, ErrClosed) {
		t.Errorf("Put after Close = %v, want ErrClosed", err)
	}
	if _, err := o.Peek(1); !errors.Is(err, ErrClosed) {
		t.Errorf("Peek after Close = %v, want ErrClosed", err)
	}
	if err := o.Ack(1); !errors.Is(err, ErrClosed) {
		t.Errorf("Ack after Close = %v, want ErrClosed", err)
	}
}

func TestConcurrentPutAck(t *testing.T) {
	o, _ := openTest(t, filepath.Join(t.TempDir(), "q.db"), Options{})
	const n = 50
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range n {
			if _, err := o.Put(msg(fmt.Sprint(i))); err != nil {
				t.Errorf("Put error: %v", err)
				return
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []string
	for len(got) < n {
		if err := o.Wait(ctx); err != nil {
			t.Fatalf("Wait error after %d messages: %v", len(got), err)
		}
		entries, err := o.Peek(10)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			got = append(got, e.Message.ID)
			if err := o.Ack(e.Seq); err != nil {
				t.Fatal(err)
			}
		}
	}
	wg.Wait()
	for i, id := range got {
		if id != fmt.Sprint(i) {
			t.Fatalf("message %d is %q, want %d: order lost", i, id, i)
		}
	}
	if st := o.Stats(); st.Depth != 0 || st.Put != n || st.Acked != n {
		t.Errorf("Stats() = %+v, want empty with %d put and acked", st, n)
	}
}

func TestPutAllBatchAndBounds(t *testing.T) {
	batch := func() []Message {
		var msgs []Message
		for i := 0; i < 5; i++ {
			msgs = append(msgs, Message{ID: fmt.Sprint("m", i), Topic: "t", Payload: []byte{byte(i)}, QoS: 1})
		}
		return msgs
	}
	tests := []struct {
		policy  DropPolicy
		wantErr error
		kept    []string
	}{
		{DropOldest, nil, []string{"m2", "m3", "m4"}},
		{DropNewest, ErrFull, []string{"m0", "m1", "m2"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.policy), func(t *testing.T) {
			ob, _ := openTest(t, filepath.Join(t.TempDir(), "o.db"), Options{MaxMessages: 3, DropPolicy: tt.policy})
			dropped, err := ob.PutAll(batch())
			if dropped != 2 || !errors.Is(err, tt.wantErr) && !(tt.wantErr == nil && err == nil) {
				t.Fatalf("PutAll = %d, %v; want 2, %v", dropped, err, tt.wantErr)
			}
			entries, err := ob.Peek(10)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, e := range entries {
				ids = append(ids, e.Message.ID)
			}
			if fmt.Sprint(ids) != fmt.Sprint(tt.kept) {
				t.Errorf("kept %v, want %v", ids, tt.kept)
			}
			if st := ob.Stats(); st.Dropped != 2 || st.Depth != 3 {
				t.Errorf("Stats = %+v, want 2 dropped, depth 3", st)
			}
		})
	}
}

func TestWaitRoomAndEmpty(t *testing.T) {
	ob, err := Open(filepath.Join(t.TempDir(), "q.db"), Options{MaxMessages: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	ctx := context.Background()
	if err := ob.WaitRoom(ctx, 5); err != nil {
		t.Fatalf("WaitRoom on an empty queue = %v", err)
	}
	if _, err := ob.PutAll([]Message{{ID: "a", Topic: "t"}, {ID: "b", Topic: "t"}}); err != nil {
		t.Fatal(err)
	}
	room := make(chan error, 1)
	go func() { room <- ob.WaitRoom(ctx, 1) }()
	empty := make(chan error, 1)
	go func() { empty <- ob.WaitEmpty(ctx) }()
	select {
	case err := <-room:
		t.Fatalf("WaitRoom returned %v on a full queue", err)
	case <-time.After(50 * time.Millisecond):
	}
	entries, err := ob.Peek(2)
	if err != nil {
		t.Fatal(err)
	}
	ob.Ack(entries[0].Seq)
	if err := <-room; err != nil {
		t.Fatalf("WaitRoom after an Ack = %v", err)
	}
	select {
	case err := <-empty:
		t.Fatalf("WaitEmpty returned %v with a message queued", err)
	case <-time.After(50 * time.Millisecond):
	}
	ob.Ack(entries[1].Seq)
	if err := <-empty; err != nil {
		t.Fatalf("WaitEmpty after the last Ack = %v", err)
	}
	ob.PutAll([]Message{{ID: "c", Topic: "t"}, {ID: "d", Topic: "t"}})
	go func() { room <- ob.WaitRoom(ctx, 1) }()
	ob.Close()
	if err := <-room; !errors.Is(err, ErrClosed) {
		t.Fatalf("WaitRoom after Close = %v, want ErrClosed", err)
	}
}
