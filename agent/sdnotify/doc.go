// Package sdnotify tells systemd about the agent's lifecycle through the
// sd_notify protocol: readiness, reloads, shutdown, free-form status and
// watchdog keep-alives. It speaks the protocol directly over the unix
// datagram socket named by $NOTIFY_SOCKET, so it needs neither cgo nor
// libsystemd, and every call is a no-op when the agent does not run under
// systemd (or runs under a unit that is not Type=notify).
//
// A typical service does:
//
//	sdnotify.Ready()
//	go sdnotify.RunWatchdog(ctx, agent.Healthy)
//	...
//	sdnotify.Stopping()
//
// and on SIGHUP calls Reloading, reloads, then Ready again.
package sdnotify
