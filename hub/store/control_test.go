package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/ood-agent/ood-agent/hub/store"
)

func TestCommandsAndResults(t *testing.T) {
	for name, newStore := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := newStore(t)
			cmds := []store.Command{
				{ID: "c-1", Operator: "api", Type: "pause", Target: "device/cam-1", Issued: base, TTL: time.Minute},
				{ID: "c-2", Operator: "ui", Type: "set_threshold", Target: "group/lobby", Args: []byte(`{"threshold":7}`), Issued: base.Add(time.Second), TTL: time.Minute},
				{ID: "c-3", Operator: "api", Type: "rollout", Target: "device/cam-2", Issued: base.Add(2 * time.Second), TTL: time.Minute, RolloutID: "r-1"},
			}
			for _, c := range cmds {
				if err := s.AddCommand(ctx, c); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.AddCommand(ctx, cmds[0]); err == nil {
				t.Error("a second command with the same id was accepted")
			}
			res := func(cmd, device, code, stage string, ok bool, at time.Duration) store.CommandResult {
				return store.CommandResult{CommandID: cmd, DeviceID: device, OK: ok, Code: code, Stage: stage,
					Time: base.Add(at), Received: base.Add(at), Payload: []byte(`{}`)}
			}
			write := func(rs ...store.CommandResult) {
				t.Helper()
				if _, err := s.Write(ctx, &store.Batch{Results: rs}); err != nil {
					t.Fatal(err)
				}
			}
			write(res("c-1", "cam-1", "", "", true, 3*time.Second),
				res("c-2", "cam-1", "", "", true, 4*time.Second),
				res("c-2", "cam-3", "", "", true, 4*time.Second),
				res("c-3", "cam-2", "", "accepted", true, 5*time.Second))
			// The broker delivers c-1 again: the device refuses it as a
			// replay, which must not hide that it was applied.
			write(res("c-1", "cam-1", "replayed", "", false, 6*time.Second), res("c-1", "cam-1", "replayed", "", false, 7*time.Second))
			// The rollout moves on.
			write(res("c-3", "cam-2", "", "committed", true, 8*time.Second))

			all, err := s.Commands(ctx, store.CommandFilter{})
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != 3 || all[0].ID != "c-3" || all[2].ID != "c-1" {
				t.Fatalf("commands = %+v, want c-3, c-2, c-1", all)
			}
			c1 := all[2]
			if len(c1.Results) != 1 || !c1.Results[0].OK || c1.Results[0].Duplicates != 2 || c1.Results[0].Code != "" {
				t.Errorf("c-1 results = %+v, want the first (ok) answer with 2 duplicates", c1.Results)
			}
			if c1.TTL != time.Minute || c1.Operator != "api" || string(c1.Args) != "null" {
				t.Errorf("c-1 = %+v", c1.Command)
			}
			if got := all[1].Results; len(got) != 2 || got[0].DeviceID != "cam-1" || got[1].DeviceID != "cam-3" {
				t.Errorf("c-2 results = %+v, want cam-1 and cam-3", got)
			}
			if got := all[0].Results; len(got) != 1 || got[0].Stage != "committed" {
				t.Errorf("c-3 results = %+v, want stage committed", got)
			}
			cam1, err := s.Commands(ctx, store.CommandFilter{Device: "cam-1"})
			if err != nil {
				t.Fatal(err)
			}
			if len(cam1) != 2 || cam1[0].ID != "c-2" || cam1[1].ID != "c-1" {
				t.Errorf("commands of cam-1 = %+v, want c-2 (its group answered) and c-1", cam1)
			}
			r1, err := s.Commands(ctx, store.CommandFilter{RolloutID: "r-1"})
			if err != nil || len(r1) != 1 || r1[0].ID != "c-3" {
				t.Errorf("commands of r-1 = %+v, %v", r1, err)
			}
			// A replay refusal with no earlier answer is kept: it is all
			// the hub knows.
			write(res("c-2", "cam-9", "replayed", "", false, 9*time.Second))
			got, _ := s.Commands(ctx, store.CommandFilter{Device: "cam-9"})
			if len(got) != 1 || len(got[0].Results) != 3 {
				t.Errorf("commands of cam-9 = %+v", got)
			}
		})
	}
}

// TestAlertFeedback checks the labels of alerts sent from the hub: the
// newest label of each alert, with the device's answer, and nothing for
// alerts never labeled.
func TestAlertFeedback(t *testing.T) {
	for name, newStore := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := newStore(t)
			for i, c := range []store.Command{
				{ID: "fb-1", Operator: "ui", Type: "feedback", Target: "device/cam-1", Args: []byte(`{"alert_id":"a-1","label":"confirmed"}`), AlertID: "a-1"},
				{ID: "fb-2", Operator: "ui", Type: "feedback", Target: "device/cam-1", Args: []byte(`{"alert_id":"a-1","label":"false_alarm"}`), AlertID: "a-1"},
				{ID: "fb-3", Operator: "api", Type: "feedback", Target: "device/cam-2", Args: []byte(`{"alert_id":"a-2","label":"confirmed"}`), AlertID: "a-2"},
				{ID: "c-1", Operator: "api", Type: "pause", Target: "device/cam-1"},
			} {
				c.Issued = base.Add(time.Duration(i) * time.Second)
				if err := s.AddCommand(ctx, c); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := s.Write(ctx, &store.Batch{Results: []store.CommandResult{
				{CommandID: "fb-1", DeviceID: "cam-1", OK: true, Stage: "labeled", Time: base, Received: base, Payload: []byte(`{}`)},
				{CommandID: "fb-2", DeviceID: "cam-1", OK: true, Stage: "labeled", Message: "alert a-1 labeled false_alarm", Time: base, Received: base, Payload: []byte(`{}`)},
			}}); err != nil {
				t.Fatal(err)
			}
			got, err := s.AlertFeedback(ctx, []string{"a-1", "a-2", "a-3"})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 {
				t.Fatalf("feedback for %d alerts, want 2: %+v", len(got), got)
			}
			if a1 := got["a-1"]; a1.ID != "fb-2" || len(a1.Results) != 1 || a1.Results[0].Message != "alert a-1 labeled false_alarm" {
				t.Errorf("a-1: %+v, want fb-2 with its answer", a1)
			}
			if a2 := got["a-2"]; a2.ID != "fb-3" || a2.AlertID != "a-2" || len(a2.Results) != 0 {
				t.Errorf("a-2: %+v, want fb-3 without an answer yet", a2)
			}
			byAlert, err := s.Commands(ctx, store.CommandFilter{AlertID: "a-1"})
			if err != nil || len(byAlert) != 2 || byAlert[0].ID != "fb-2" {
				t.Errorf("commands of alert a-1 = %+v, %v", byAlert, err)
			}
		})
	}
}
