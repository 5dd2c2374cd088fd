package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ood-agent/ood-agent/hub/store"
)

func TestAdaptations(t *testing.T) {
	for name, newStore := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := newStore(t)
			stage := func(id, device string, at time.Duration, version, stage string) store.Adaptation {
				return store.Adaptation{ID: id, DeviceID: device, Time: base.Add(at), Received: base.Add(at + time.Second),
					Version: version, Stage: stage, Payload: []byte(`{"id":"` + id + `"}`)}
			}
			b := &store.Batch{Adaptations: []store.Adaptation{
				stage("ad-1", "cam-1", 0, "adapt-1", "switching"),
				stage("ad-2", "cam-1", time.Minute, "adapt-1", "committed"),
				stage("ad-3", "cam-2", time.Minute, "adapt-7", "refused"),
				stage("ad-4", "cam-1", time.Hour, "adapt-2", "switching"),
				stage("ad-1", "cam-1", 0, "adapt-1", "switching"), // a redelivery
			}}
			if b.Len() != 5 {
				t.Fatalf("batch length %d, want 5", b.Len())
			}
			if _, err := s.Write(ctx, b); err != nil {
				t.Fatal(err)
			}
			got, err := s.Adaptations(ctx, "cam-1", 10)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, a := range got {
				ids = append(ids, a.ID+" "+a.Version+" "+a.Stage)
			}
			if want := "ad-4 adapt-2 switching, ad-2 adapt-1 committed, ad-1 adapt-1 switching"; strings.Join(ids, ", ") != want {
				t.Errorf("adaptations of cam-1 = %q, want %q", ids, want)
			}
			if a := got[1]; !a.Time.Equal(base.Add(time.Minute)) || !a.Received.Equal(base.Add(61*time.Second)) || string(a.Payload) != `{"id":"ad-2"}` {
				t.Errorf("ad-2 = %+v", a)
			}
			if two, err := s.Adaptations(ctx, "cam-1", 2); err != nil || len(two) != 2 || two[0].ID != "ad-4" {
				t.Errorf("limit 2: %+v, %v", two, err)
			}
			devices, err := s.Devices(ctx)
			if err != nil || len(devices) != 2 {
				t.Errorf("devices after adaptation messages alone: %+v, %v; want both seen", devices, err)
			}
			// Retention takes them as it takes alerts.
			if n, err := s.Prune(ctx, base.Add(30*time.Minute)); err != nil || n != 3 {
				t.Errorf("prune = %d, %v; want 3", n, err)
			}
			if left, _ := s.Adaptations(ctx, "cam-1", 10); len(left) != 1 || left[0].ID != "ad-4" {
				t.Errorf("after prune: %+v", left)
			}
		})
	}
}
