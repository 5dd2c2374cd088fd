package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ood-agent/ood-agent/hub/store"
)

func TestModelsAndRollouts(t *testing.T) {
	for name, newStore := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := newStore(t)
			m := store.Model{Version: "v1", Name: "cnn", ModelSHA256: "aa", ModelSize: 10, CalibrationSHA256: "bb", CalibrationSize: 2,
				Manifest: []byte(`{"payload":"x"}`), Operator: "api-token", Created: base}
			if err := s.AddModel(ctx, m); err != nil {
				t.Fatal(err)
			}
			if err := s.AddModel(ctx, m); !errors.Is(err, store.ErrExists) {
				t.Errorf("second v1: %v, want ErrExists", err)
			}
			m2 := m
			m2.Version, m2.Created = "v2", base.Add(time.Hour)
			if err := s.AddModel(ctx, m2); err != nil {
				t.Fatal(err)
			}
			got, err := s.Model(ctx, "v1")
			if err != nil || got.ModelSize != 10 || string(got.Manifest) != `{"payload":"x"}` || !got.Created.Equal(base) {
				t.Errorf("Model(v1) = %+v, %v", got, err)
			}
			if _, err := s.Model(ctx, "v9"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("Model(v9): %v", err)
			}
			all, err := s.Models(ctx)
			if err != nil || len(all) != 2 || all[0].Version != "v2" {
				t.Errorf("Models = %+v, %v", all, err)
			}

			r := store.Rollout{ID: "r-1", ModelVersion: "v2", Target: "percent", Percent: 25, Devices: []string{"cam-1", "cam-7"}, Operator: "ui", Created: base}
			if err := s.AddRollout(ctx, r); err != nil {
				t.Fatal(err)
			}
			if err := s.AddRollout(ctx, store.Rollout{ID: "r-2", ModelVersion: "v2", Target: "group/lobby", Created: base.Add(time.Minute)}); err != nil {
				t.Fatal(err)
			}
			gr, err := s.Rollout(ctx, "r-1")
			if err != nil || gr.Percent != 25 || !slices.Equal(gr.Devices, r.Devices) || gr.Target != "percent" {
				t.Errorf("Rollout(r-1) = %+v, %v", gr, err)
			}
			rs, err := s.Rollouts(ctx, 10)
			if err != nil || len(rs) != 2 || rs[0].ID != "r-2" || rs[0].Devices != nil {
				t.Errorf("Rollouts = %+v, %v", rs, err)
			}
			if _, err := s.Rollout(ctx, "r-9"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("Rollout(r-9): %v", err)
			}
		})
	}
}
