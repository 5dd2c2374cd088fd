package sdnotify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// listen opens a datagram socket standing in for systemd's notification
// socket, points $NOTIFY_SOCKET at it and returns it.
func listen(t *testing.T, addr string) *net.UnixConn {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		t.Fatalf("ListenUnixgram(%q): %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", addr)
	return conn
}

func socketPath(t *testing.T) string {
	return filepath.Join(t.TempDir(), "notify.sock")
}

// receive returns the next datagram, failing the test after a few seconds.
func receive(t *testing.T, conn *net.UnixConn) string {
	t.Helper()
	buf := make([]byte, 4096)
	if err := conn.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("reading notification: %v", err)
	}
	return string(buf[:n])
}

func TestMessages(t *testing.T) {
	tests := []struct {
		name string
		send func() error
		want string
	}{
		{"Ready", Ready, "READY=1"},
		{"Stopping", Stopping, "STOPPING=1"},
		{"Watchdog", Watchdog, "WATCHDOG=1"},
		{"Status", func() error { return Status("3 frames/s, broker connected") }, "STATUS=3 frames/s, broker connected"},
		{"StatusNewlines", func() error { return Status("line one\nline two\r\nthree") }, "STATUS=line one line two three"},
		{"Notify", func() error { return Notify("EXTEND_TIMEOUT_USEC=5000000") }, "EXTEND_TIMEOUT_USEC=5000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := listen(t, socketPath(t))
			if err := tt.send(); err != nil {
				t.Fatalf("%s() = %v, want nil", tt.name, err)
			}
			if got := receive(t, conn); got != tt.want {
				t.Errorf("%s() sent %q, want %q", tt.name, got, tt.want)
			}
		})
	}
}

func TestAbstractSocket(t *testing.T) {
	addr := fmt.Sprintf("@ood-agent-sdnotify-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	conn := listen(t, addr)
	if err := Ready(); err != nil {
		t.Fatalf("Ready() = %v, want nil", err)
	}
	if got := receive(t, conn); got != "READY=1" {
		t.Errorf("Ready() sent %q over %s, want %q", got, addr, "READY=1")
	}
}

func TestReloading(t *testing.T) {
	conn := listen(t, socketPath(t))
	before := monotonicUsec(t)
	if err := Reloading(); err != nil {
		t.Fatalf("Reloading() = %v, want nil", err)
	}
	after := monotonicUsec(t)
	got := receive(t, conn)
	m := regexp.MustCompile(`^RELOADING=1\nMONOTONIC_USEC=([0-9]+)$`).FindStringSubmatch(got)
	if m == nil {
		t.Fatalf("Reloading() sent %q, want RELOADING=1 and MONOTONIC_USEC", got)
	}
	usec, _ := strconv.ParseInt(m[1], 10, 64)
	if usec < before || usec > after {
		t.Errorf("Reloading() MONOTONIC_USEC = %d, want within [%d, %d]", usec, before, after)
	}
}

// monotonicUsec reads the clock Reloading stamps its message with.
func monotonicUsec(t *testing.T) int64 {
	t.Helper()
	usec, err := monotonicNowUsec()
	if err != nil {
		t.Fatal(err)
	}
	return usec
}

func TestNoSocket(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	for name, f := range map[string]func() error{
		"Ready": Ready, "Stopping": Stopping, "Reloading": Reloading, "Watchdog": Watchdog,
		"Status": func() error { return Status("x") },
	} {
		if err := f(); err != nil {
			t.Errorf("%s() without NOTIFY_SOCKET = %v, want nil", name, err)
		}
	}
}

func TestNotifyErrors(t *testing.T) {
	tests := []struct {
		name   string
		socket string
		want   error // nil: any non-nil error
	}{
		{"vsock", "vsock:2:1234", ErrUnsupportedSocket},
		{"relative", "notify.sock", ErrUnsupportedSocket},
		{"missing", filepath.Join(t.TempDir(), "absent.sock"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("NOTIFY_SOCKET", tt.socket)
			err := Ready()
			if err == nil {
				t.Fatalf("Ready() with NOTIFY_SOCKET=%q = nil, want an error", tt.socket)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Ready() with NOTIFY_SOCKET=%q = %v, want %v", tt.socket, err, tt.want)
			}
		})
	}
}

func TestParseWatchdog(t *testing.T) {
	const pid = 4242
	tests := []struct {
		usec, wpid string
		want       time.Duration
		wantOK     bool
	}{
		{"30000000", "", 30 * time.Second, true},
		{"30000000", "4242", 30 * time.Second, true},
		{"1", "4242", time.Microsecond, true},
		{"30000000", "4243", 0, false},
		{"30000000", "not-a-pid", 0, false},
		{"", "4242", 0, false},
		{"0", "", 0, false},
		{"-5", "", 0, false},
		{"30s", "", 0, false},
		{"18446744073709551615", "", 0, false},
		{"9223372036854775", "", 9223372036854775 * time.Microsecond, true},
		{"9223372036854776", "", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.usec+"/"+tt.wpid, func(t *testing.T) {
			got, ok := parseWatchdog(tt.usec, tt.wpid, pid)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("parseWatchdog(%q, %q, %d) = %v, %v, want %v, %v", tt.usec, tt.wpid, pid, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestWatchdogIntervalEnv(t *testing.T) {
	t.Setenv("WATCHDOG_USEC", "2000000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	if got, ok := WatchdogInterval(); got != 2*time.Second || !ok {
		t.Errorf("WatchdogInterval() = %v, %v, want 2s, true", got, ok)
	}
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()+1))
	if got, ok := WatchdogInterval(); ok {
		t.Errorf("WatchdogInterval() for another pid = %v, true, want false", got)
	}
}

func FuzzParseWatchdog(f *testing.F) {
	f.Add("30000000", "", 1)
	f.Add("30000000", "1", 1)
	f.Add("1", "2", 1)
	f.Add("0", "", 1)
	f.Add("+5", "", 1)
	f.Add("99999999999999999999", "1", 1)
	f.Fuzz(func(t *testing.T, usec, wpid string, pid int) {
		d, ok := parseWatchdog(usec, wpid, pid)
		if !ok {
			if d != 0 {
				t.Errorf("parseWatchdog(%q, %q, %d) = %v, false, want 0 when disabled", usec, wpid, pid, d)
			}
			return
		}
		if d <= 0 {
			t.Errorf("parseWatchdog(%q, %q, %d) = %v, true, want a positive interval", usec, wpid, pid, d)
		}
		if got := strconv.FormatInt(d.Microseconds(), 10); strings.TrimLeft(usec, "0") != got {
			t.Errorf("parseWatchdog(%q, ...) = %v, which is %s µs", usec, d, got)
		}
	})
}

func TestRunWatchdog(t *testing.T) {
	conn := listen(t, socketPath(t))
	t.Setenv("WATCHDOG_USEC", "40000") // keep-alives every 20ms
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))

	var healthy atomic.Bool
	healthy.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- RunWatchdog(ctx, healthy.Load) }()

	for range 3 {
		if got := receive(t, conn); got != "WATCHDOG=1" {
			t.Fatalf("RunWatchdog sent %q, want %q", got, "WATCHDOG=1")
		}
	}

	// Unhealthy: after at most one keep-alive already in flight, nothing
	// more may arrive for several intervals.
	healthy.Store(false)
	drainUntilQuiet(t, conn, 100*time.Millisecond)

	healthy.Store(true)
	if got := receive(t, conn); got != "WATCHDOG=1" {
		t.Fatalf("RunWatchdog after recovery sent %q, want %q", got, "WATCHDOG=1")
	}

	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("RunWatchdog() after cancel = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("RunWatchdog did not return after its context was cancelled")
	}
}

// drainUntilQuiet reads datagrams until none arrives for quiet, failing if
// more than one keep-alive (the one possibly in flight when the health
// changed) arrives first.
func drainUntilQuiet(t *testing.T, conn *net.UnixConn, quiet time.Duration) {
	t.Helper()
	buf := make([]byte, 64)
	for late := 0; ; late++ {
		if late > 1 {
			t.Fatalf("RunWatchdog sent %d keep-alives while unhealthy, want at most 1", late)
		}
		conn.SetReadDeadline(time.Now().Add(quiet))
		if _, err := conn.Read(buf); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return
			}
			t.Fatal(err)
		}
	}
}

func TestRunWatchdogDisabled(t *testing.T) {
	t.Setenv("WATCHDOG_USEC", "")
	called := false
	err := RunWatchdog(context.Background(), func() bool { called = true; return true })
	if err != nil || called {
		t.Errorf("RunWatchdog() without WATCHDOG_USEC = %v (healthy called: %v), want nil without calling healthy", err, called)
	}
}

func TestRunWatchdogSendError(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "gone.sock"))
	t.Setenv("WATCHDOG_USEC", "1000000")
	t.Setenv("WATCHDOG_PID", "")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := RunWatchdog(ctx, func() bool { return true }); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("RunWatchdog() with an unreachable socket = %v, want a send error", err)
	}
}

func BenchmarkWatchdog(b *testing.B) {
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(b.TempDir(), "n.sock"), Net: "unixgram"})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	b.Setenv("NOTIFY_SOCKET", conn.LocalAddr().String())
	go func() {
		buf := make([]byte, 64)
		for {
			if _, err := conn.Read(buf); err != nil {
				return
			}
		}
	}()
	b.ReportAllocs()
	for b.Loop() {
		if err := Watchdog(); err != nil {
			b.Fatal(err)
		}
	}
}
