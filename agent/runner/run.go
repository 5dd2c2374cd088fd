package runner

import (
	"context"
	"errors"
	"fmt"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/oklog/run"

	"github.com/ood-agent/ood-agent/agent/source"
)

// Run runs the agent until ctx ends, a part fails, or the source is
// finished (a directory without watch, the end of stdin or a file).
//
// Every part runs in one group; when one returns, the others are stopped
// in this order: the pipeline (open events are ended and everything it
// produced is committed to the outbox), the ticker, the HTTP server and
// parts added with Add, the sender (after delivering the outbox: until it
// is empty when the source finished, else for up to the MQTT connect
// timeout while connected), and last the MQTT client, which publishes the
// offline status and disconnects.
func (a *Agent) Run(ctx context.Context) error {
	defer a.close()
	a.running.Store(true)
	defer a.running.Store(false)

	var g run.Group
	// Waits for room in the outbox end with wctx; see deliver.Writer.
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	{
		stop := make(chan struct{})
		g.Add(func() error {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-stop:
				return nil
			}
		}, func(error) {
			close(stop)
			notify(a.log, daemon.SdNotifyStopping)
		})
	}
	{
		pctx, pcancel := context.WithCancel(ctx)
		a.pump = source.StartPump(pctx, a.src, source.PumpOptions{FPS: a.cfg.Source.FPS, Queue: a.cfg.Source.Queue, Clock: a.clock})
		done := make(chan struct{})
		g.Add(func() error {
			defer close(done)
			a.pipeline.Store(true)
			defer a.pipeline.Store(false)
			if err := a.runPipeline(pctx); err != nil {
				return fmt.Errorf("source: %w", err)
			}
			return nil
		}, func(cause error) {
			if cause != nil {
				wcancel()
			}
			pcancel()
			<-done
			a.enqueue(a.decider.Shutdown(a.clock.Now()), nil, nil)
			a.writer.Close()
			if cause == nil {
				a.log.Info("source finished; delivering queued messages", "pending", a.ob.Len())
			}
		})
	}
	g.Add(func() error { return a.writer.Run(wctx) }, func(error) { a.writer.Close() })
	a.addPart(&g, ctx, part{"ticker", a.tick})
	if a.cfg.HTTP.Listen != "" {
		a.addPart(&g, ctx, part{"http", a.serveHTTP})
	}
	a.addPart(&g, ctx, part{"watchdog", a.watchdog})
	for _, p := range a.parts {
		a.addPart(&g, ctx, p)
	}
	// The sender and the client outlive ctx: the outbox is delivered on
	// the way out.
	bg := context.WithoutCancel(ctx)
	{
		sctx, scancel := context.WithCancel(bg)
		g.Add(func() error { return a.sender.Run(sctx) }, func(cause error) {
			defer scancel()
			if cause == nil { // the source finished: deliver everything
				a.ob.WaitEmpty(ctx)
			} else if a.client.Connected() {
				fctx, fcancel := context.WithTimeout(bg, a.cfg.MQTT.ConnectTimeout)
				defer fcancel()
				a.ob.WaitEmpty(fctx)
			}
			if left := a.ob.Len(); left > 0 {
				a.log.Warn("stopping with undelivered messages; they are kept on disk and sent at the next start", "pending", left)
			}
		})
	}
	{
		mctx, mcancel := context.WithCancel(bg)
		g.Add(func() error { return a.client.Run(mctx) }, func(error) { mcancel() })
	}

	notify(a.log, daemon.SdNotifyReady)
	err := g.Run()
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
		return nil
	}
	return err
}

// addPart runs p in g until the group stops.
func (a *Agent) addPart(g *run.Group, ctx context.Context, p part) {
	pctx, cancel := context.WithCancel(ctx)
	g.Add(func() error {
		if err := p.run(pctx); err != nil && !errors.Is(err, context.Canceled) {
			a.log.Error("part failed", "part", p.name, "err", err)
			return fmt.Errorf("%s: %w", p.name, err)
		}
		// A part that returns nil or on cancellation stops the agent only
		// when the agent is stopping anyway.
		<-pctx.Done()
		return pctx.Err()
	}, func(error) { cancel() })
}
