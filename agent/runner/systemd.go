package runner

import (
	"context"
	"log/slog"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// notify sends a state to systemd (Type=notify units); without
// $NOTIFY_SOCKET it does nothing.
func notify(log *slog.Logger, state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		log.Warn("systemd notify", "state", state, "err", err)
	}
}

// watchdog feeds systemd's watchdog (WatchdogSec= in the unit) every half
// interval while the pipeline runs: an agent that stops making progress
// stops feeding it, and systemd restarts it. Without a watchdog it waits
// for ctx.
func (a *Agent) watchdog(ctx context.Context) error {
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil || interval <= 0 {
		if err != nil {
			a.log.Warn("systemd watchdog", "err", err)
		}
		<-ctx.Done()
		return ctx.Err()
	}
	t := a.clock.NewTicker(max(interval/2, time.Millisecond))
	defer t.Stop()
	for {
		if a.Healthy() {
			notify(a.log, daemon.SdNotifyWatchdog)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C():
		}
	}
}
