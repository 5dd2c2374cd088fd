package store

import (
	"context"
	"log/slog"
	"time"
)

// DefaultRetention is how long alerts, statistics and evidence are kept
// when the configuration does not say.
const DefaultRetention = 30 * 24 * time.Hour

// RunRetention prunes rows older than retention now and then every
// interval until ctx ends. Errors are logged and retried at the next
// interval: a failed prune only delays the cleanup. onError, if not nil,
// is called for each failure (the hub counts them).
func (s *Store) RunRetention(ctx context.Context, retention, interval time.Duration, log *slog.Logger, onError func()) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		n, err := s.Prune(ctx, time.Now().Add(-retention))
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("retention prune failed", "err", err)
			if onError != nil {
				onError()
			}
		case n > 0:
			log.Info("retention pruned old rows", "rows", n, "retention", retention)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
