package sdnotify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ErrUnsupportedSocket is returned when $NOTIFY_SOCKET names a socket this
// package cannot reach, such as the AF_VSOCK addresses systemd 253 added for
// virtual machines.
var ErrUnsupportedSocket = errors.New("sdnotify: unsupported NOTIFY_SOCKET address")

// Notify sends state, one or more newline-separated VAR=VALUE assignments
// (see sd_notify(3)), to the service manager. It returns nil without doing
// anything when $NOTIFY_SOCKET is unset.
func Notify(state string) error {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return nil
	}
	// Go maps a leading '@' to the Linux abstract namespace itself, so both
	// forms systemd uses can be dialled as they are.
	if addr[0] != '/' && addr[0] != '@' {
		return fmt.Errorf("%w: %q", ErrUnsupportedSocket, addr)
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sdnotify: dial %s: %w", addr, err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("sdnotify: send to %s: %w", addr, err)
	}
	return nil
}

// Ready reports that start-up (or a reload) has finished. Until it is sent,
// systemctl start of a Type=notify unit keeps waiting.
func Ready() error {
	return Notify("READY=1")
}

// Stopping reports that the service has begun shutting down, so that the
// manager shows it as deactivating while the outbox is flushed.
func Stopping() error {
	return Notify("STOPPING=1")
}

// Reloading reports that the service has begun reloading its configuration;
// send Ready once the reload is complete. The message carries the current
// CLOCK_MONOTONIC time in MONOTONIC_USEC, which systemd 253 and later use to
// match the reload with the request (Type=notify-reload); earlier versions
// ignore it.
func Reloading() error {
	usec, err := monotonicNowUsec()
	if err != nil {
		return err
	}
	return Notify("RELOADING=1\nMONOTONIC_USEC=" + strconv.FormatInt(usec, 10))
}

// monotonicNowUsec reads CLOCK_MONOTONIC, which package time does not
// expose, in microseconds.
func monotonicNowUsec() (int64, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0, fmt.Errorf("sdnotify: read monotonic clock: %w", err)
	}
	return ts.Nano() / 1e3, nil
}

// Status sets the free-form status line shown by systemctl status. Line
// breaks in s would end the assignment early, so they are replaced by
// spaces.
func Status(s string) error {
	s = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
	return Notify("STATUS=" + s)
}

// Watchdog sends a keep-alive to the service manager's watchdog.
func Watchdog() error {
	return Notify("WATCHDOG=1")
}

// WatchdogInterval returns the watchdog timeout the manager enforces on this
// process (WatchdogSec= in the unit) and whether the watchdog is enabled
// for it. Keep-alives must arrive more often than the interval; sending one
// every half interval is customary.
func WatchdogInterval() (time.Duration, bool) {
	return parseWatchdog(os.Getenv("WATCHDOG_USEC"), os.Getenv("WATCHDOG_PID"), os.Getpid())
}

// parseWatchdog interprets $WATCHDOG_USEC and $WATCHDOG_PID for the process
// with id pid. A WATCHDOG_PID naming another process means the variables
// were inherited and the watchdog watches someone else.
func parseWatchdog(usec, wpid string, pid int) (time.Duration, bool) {
	if usec == "" {
		return 0, false
	}
	n, err := strconv.ParseUint(usec, 10, 64)
	if err != nil || n == 0 || n > uint64(1<<63-1)/uint64(time.Microsecond) {
		return 0, false
	}
	if wpid != "" {
		p, err := strconv.Atoi(wpid)
		if err != nil || p != pid {
			return 0, false
		}
	}
	return time.Duration(n) * time.Microsecond, true
}

// RunWatchdog sends watchdog keep-alives every half watchdog interval for as
// long as ctx is not done, but only while healthy reports true: an agent
// that stops making progress stops feeding the watchdog, and systemd
// restarts it. A keep-alive is sent right away when healthy allows.
//
// RunWatchdog returns nil immediately when the watchdog is not enabled for
// this process, ctx.Err() when ctx is done, and an error if a keep-alive
// cannot be delivered.
func RunWatchdog(ctx context.Context, healthy func() bool) error {
	interval, ok := WatchdogInterval()
	if !ok {
		return nil
	}
	t := time.NewTicker(interval / 2)
	defer t.Stop()
	for {
		if healthy() {
			if err := Watchdog(); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
