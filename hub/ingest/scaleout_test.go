package ingest_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ood-agent/ood-agent/hub/ingest"
	"github.com/ood-agent/ood-agent/hub/internal/agentsim"
	"github.com/ood-agent/ood-agent/hub/internal/pgtest"
	"github.com/ood-agent/ood-agent/hub/store"
	"github.com/ood-agent/ood-agent/internal/mosquittotest"
)

// Environment of a hub replica run as a child process by TestScaleOut.
const (
	envReplica = "OOD_HUB_TEST_REPLICA" // the client id
	envBroker  = "OOD_HUB_TEST_BROKER"
	envDSN     = "OOD_HUB_TEST_DSN"
)

// TestMain turns the test binary into a hub replica when TestScaleOut
// starts it as a child.
func TestMain(m *testing.M) {
	if id := os.Getenv(envReplica); id != "" {
		os.Exit(runReplica(id, os.Getenv(envBroker), os.Getenv(envDSN)))
	}
	os.Exit(m.Run())
}

func runReplica(clientID, broker, dsn string) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx := context.Background()
	s, err := store.Open(ctx, dsn)
	if err != nil {
		log.Error("open store", "err", err)
		return 1
	}
	in, err := ingest.New(ingest.Options{Broker: broker, ClientID: clientID, Prefix: "ood", ShareGroup: "hubs", Store: s, Logger: log})
	if err != nil {
		log.Error("ingest", "err", err)
		return 1
	}
	err = in.Run(ctx)
	log.Error("ingest stopped", "err", err)
	return 1
}

// selfCommand re-executes the test binary; under qemu user emulation
// (make test-arm) through the emulator, which does not follow execve.
func selfCommand(args ...string) *exec.Cmd {
	if emu := os.Getenv("OOD_AGENT_TEST_EMULATOR"); emu != "" {
		return exec.Command(emu, append([]string{os.Args[0]}, args...)...)
	}
	return exec.Command(os.Args[0], args...)
}

type replica struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

func startReplica(t *testing.T, clientID, broker, dsn string) *replica {
	t.Helper()
	cmd := selfCommand("-test.run=^$")
	cmd.Env = append(os.Environ(), envReplica+"="+clientID, envBroker+"="+broker, envDSN+"="+dsn)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &replica{cmd: cmd, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(r.exited) }()
	t.Cleanup(func() { r.kill() })
	return r
}

func (r *replica) kill() {
	r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.exited
}

// TestScaleOut: three hub replicas share the alerts through a shared
// subscription and write to one PostgreSQL; three agents publish; one
// replica is killed with SIGKILL mid-stream and restarted (as systemd
// would). Every alert is stored exactly once.
func TestScaleOut(t *testing.T) {
	dsn := pgtest.Start(t)
	s := openStore(t, dsn) // migrates before the replicas start
	broker := mosquittotest.Start(t, brokerConfig)

	replicas := make([]*replica, 3)
	for i := range replicas {
		replicas[i] = startReplica(t, fmt.Sprintf("hub-%d", i), broker.URL(), dsn)
	}
	waitFor(t, "replicas connected", func() bool {
		log := broker.Log()
		return strings.Contains(log, "as hub-0") && strings.Contains(log, "as hub-1") && strings.Contains(log, "as hub-2")
	})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const agents, perAgent = 3, 400
	var (
		mu  sync.Mutex
		ids []string
		wg  sync.WaitGroup
	)
	progress := make(chan struct{}, agents*perAgent)
	for a := range agents {
		pub, err := agentsim.Connect(ctx, broker.URL(), fmt.Sprintf("agent-%d", a))
		if err != nil {
			t.Fatal(err)
		}
		dev, _ := agentsim.NewDevice("ood", fmt.Sprintf("cam-%d", a))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perAgent {
				m := dev.Alert(time.Now())
				if err := agentsim.Publish(ctx, pub, dev.Topics.Alert(), m, false); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				ids = append(ids, m.ID)
				mu.Unlock()
				progress <- struct{}{}
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	// A third of the way through, replica 0 dies without a word.
	for range agents * perAgent / 3 {
		<-progress
	}
	replicas[0].kill()
	t.Logf("killed hub-0 after %d alerts were published", agents*perAgent/3)
	time.Sleep(500 * time.Millisecond)
	replicas[0] = startReplica(t, "hub-0", broker.URL(), dsn)
	wg.Wait()

	want := int64(agents * perAgent)
	waitFor(t, "every alert stored", func() bool { return countAlerts(t, s) >= want })
	time.Sleep(500 * time.Millisecond) // late redeliveries would show now
	if n := countAlerts(t, s); n != want {
		t.Errorf("%d alerts stored, want %d", n, want)
	}
	for _, id := range ids {
		if _, err := s.Alert(ctx, id); err != nil {
			t.Errorf("alert %s: %v", id, err)
		}
	}
	for a := range agents {
		page, err := s.Alerts(ctx, store.AlertQuery{Device: fmt.Sprintf("cam-%d", a), Limit: 1000})
		if err != nil || len(page.Alerts) != perAgent {
			t.Errorf("cam-%d: %d alerts, %v; want %d", a, len(page.Alerts), err, perAgent)
		}
	}
}
