package hub_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	vm "github.com/VictoriaMetrics/metrics"

	"github.com/ood-agent/ood-agent/agent/mqtt"
	"github.com/ood-agent/ood-agent/hub"
	"github.com/ood-agent/ood-agent/hub/ingest"
	"github.com/ood-agent/ood-agent/hub/internal/agentsim"
	"github.com/ood-agent/ood-agent/hub/internal/pgtest"
	"github.com/ood-agent/ood-agent/hub/store"
	"github.com/ood-agent/ood-agent/hub/web"
	"github.com/ood-agent/ood-agent/internal/mosquittotest"
)

// BenchmarkIngestSQLite measures alerts per second from agents through a
// real Mosquitto on this machine into SQLite: 8 publishers send b.N
// alerts in total, each waiting for its PUBACKs as the agent does; the
// clock stops when the last row is committed.
func BenchmarkIngestSQLite(b *testing.B) {
	benchIngest(b, "sqlite://"+filepath.Join(b.TempDir(), "hub.db"), 1)
}

// BenchmarkIngestPostgres is the same into one PostgreSQL, with one hub
// and with three replicas sharing the subscription.
func BenchmarkIngestPostgres(b *testing.B) {
	dsn := pgtest.Start(b)
	for _, replicas := range []int{1, 3} {
		b.Run(fmt.Sprintf("replicas=%d", replicas), func(b *testing.B) { benchIngest(b, dsn, replicas) })
	}
}

func benchIngest(b *testing.B, dsn string, replicas int) {
	broker := mosquittotest.Start(b, mosquittotest.WithConfig("max_inflight_messages 1000", "max_queued_messages 1000000"))
	s, err := store.Open(context.Background(), dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for r := range replicas {
		rs, err := store.Open(ctx, dsn)
		if err != nil {
			b.Fatal(err)
		}
		defer rs.Close()
		in, err := ingest.New(ingest.Options{Broker: broker.URL(), ClientID: fmt.Sprintf("bench-hub-%d", r), Prefix: "ood", ShareGroup: "hubs", Store: rs})
		if err != nil {
			b.Fatal(err)
		}
		go in.Run(ctx)
	}

	const publishers = 8
	type pub struct {
		topic    string
		payloads [][]byte
	}
	pubs := make([]pub, publishers)
	for p := range pubs {
		d, _ := agentsim.NewDevice("ood", fmt.Sprintf("cam-%d", p))
		pubs[p].topic = d.Topics.Alert()
		for i := 0; i < b.N/publishers+1; i++ {
			data, _ := json.Marshal(d.Alert(time.Now()))
			pubs[p].payloads = append(pubs[p].payloads, data)
		}
	}
	clients := make([]*mqtt.Client, publishers)
	for p := range clients {
		c, err := agentsim.Connect(ctx, broker.URL(), fmt.Sprintf("bench-agent-%d", p))
		if err != nil {
			b.Fatal(err)
		}
		clients[p] = c
	}
	// Probes until every replica's subscription is in place.
	probe, _ := agentsim.NewDevice("ood", "probe")
	for strings.Count(broker.Log(), "as bench-hub-") < replicas {
		time.Sleep(20 * time.Millisecond)
	}
	for n, _ := s.CountAlerts(ctx); n < int64(replicas); n, _ = s.CountAlerts(ctx) {
		if err := agentsim.Publish(ctx, clients[0], probe.Topics.Alert(), probe.Alert(time.Now()), false); err != nil {
			b.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	base, _ := s.CountAlerts(ctx)

	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for p := range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := p; i < b.N; i += publishers {
				if err := clients[p].Publish(ctx, pubs[p].topic, pubs[p].payloads[i/publishers], 1, false); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	want := base + int64(b.N)
	for n, _ := s.CountAlerts(ctx); n < want; n, _ = s.CountAlerts(ctx) {
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "alerts/s")
	if n, _ := s.CountAlerts(ctx); n != want {
		b.Errorf("%d alerts stored, want %d", n, want)
	}
}

// fixture1M builds (or reuses, with $OOD_HUB_BENCH_DB) a SQLite hub
// database with 1,000 devices, 1,000 alerts each spread over 30 days,
// an hour of one-minute stats per device, and the hourly alert counts. It bulk-inserts with
// recursive CTEs in one transaction, which takes seconds, not minutes.
func fixture1M(b *testing.B) string {
	path := os.Getenv("OOD_HUB_BENCH_DB")
	if path == "" {
		path = filepath.Join(b.TempDir(), "hub-1m.db")
	}
	dsn := "sqlite://" + path
	s, err := store.Open(context.Background(), dsn)
	if err != nil {
		b.Fatal(err)
	}
	n, err := s.CountAlerts(context.Background())
	s.Close()
	if err != nil {
		b.Fatal(err)
	}
	if n >= 1_000_000 {
		return dsn
	}
	start := time.Now()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	now := time.Now().UnixMilli()
	const devices, perDevice = 1000, 1000
	const month = 30 * 24 * 3600 * 1000
	model := agentsim.Model
	stmts := []string{
		fmt.Sprintf(`INSERT INTO devices (id, state, status_ms, version, model_name, model_sha256, last_seen_ms, stats_ms, fps, ood_rate, ood_rate_1h,
			energy_p05, energy_p50, energy_p95, cal_p05, cal_p50, cal_p95, cal_threshold)
			WITH RECURSIVE d(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM d WHERE i < %d)
			SELECT printf('cam-%%04d', i), CASE WHEN i %% 10 = 0 THEN 'offline' ELSE 'online' END, %d, 'v1.0.0', '%s', '%s', %d, %d,
			2.0, 0.05, 0.05, -12, CASE WHEN i %% 50 = 0 THEN -4 ELSE -10 END, -8, -12.4, -10.1, -8.3, 7.95 FROM d`,
			devices-1, now, model.Name, model.SHA256, now, now),
		// Alert k of device i: times spread evenly over the month.
		fmt.Sprintf(`INSERT INTO alerts (id, device_id, type, event_id, time_ms, received_ms, origin, frame_seq, label, label_name,
			confidence, energy, score, threshold, method, model_name, model_sha256, evidence_id, payload)
			WITH RECURSIVE n(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM n WHERE k < %d)
			SELECT printf('%%08d-%%04d', k %% %d, k / %d), printf('cam-%%04d', k / %d), 'alert', '',
			%d - (k %% %d) * %d - (k / %d), %d, '/inbox/frame.png', k %% %d, k %% 10, 'Shirt',
			0.4, -4.5, 4.5, 7.95, 'energy', '%s', '%s', '',
			printf('{"schema":"ood-agent/alert/v1","type":"alert","id":"%%08d-%%04d","device_id":"cam-%%04d","label_name":"Shirt","energy":-4.5,"score":4.5,"threshold":7.95}', k %% %d, k / %d, k / %d)
			FROM n`,
			devices*perDevice-1, perDevice, perDevice, perDevice,
			now, perDevice, month/perDevice, perDevice, now, perDevice,
			model.Name, model.SHA256, perDevice, perDevice, perDevice),
		fmt.Sprintf(`INSERT INTO stats (id, device_id, time_ms, interval_s, frames, ood_frames, fps, inference_p50,
			energy_p05, energy_p50, energy_p95, cal_p05, cal_p50, cal_p95, cal_threshold, payload)
			WITH RECURSIVE n(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM n WHERE k < %d)
			SELECT printf('s-%%08d', k), printf('cam-%%04d', k / 60), %d - (k %% 60) * 60000, 60, 120, 6, 2.0, 4.1,
			-12, -10, -8, -12.4, -10.1, -8.3, 7.95, '{}' FROM n`, devices*60-1, now),
		// What Write maintains alongside the alerts.
		`INSERT INTO alert_hours (device_id, hour, alerts) SELECT device_id, time_ms / 3600000, COUNT(*) FROM alerts
			WHERE type IN ('alert', 'event_start') GROUP BY device_id, time_ms / 3600000`,
	}
	tx, err := db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	for _, q := range stmts {
		if _, err := tx.Exec(q); err != nil {
			b.Fatalf("fixture: %v\n%s", err, q)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	b.Logf("fixture: 1,000 devices, 1,000,000 alerts, 60,000 stats in %v", time.Since(start).Round(time.Millisecond))
	return dsn
}

// BenchmarkFleetPage1M measures the server time of the fleet page with
// 1,000 devices and 1,000,000 stored alerts.
func BenchmarkFleetPage1M(b *testing.B) {
	dsn := fixture1M(b)
	s, err := store.Open(context.Background(), dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	srv, err := web.New(web.Options{Store: s, Token: "t", Metrics: vm.NewSet()})
	if err != nil {
		b.Fatal(err)
	}
	for _, path := range []string{"/", "/api/v1/devices", "/alerts", "/devices/cam-0500"} {
		b.Run(strings.Trim(strings.ReplaceAll(path, "/", "_"), "_"), func(b *testing.B) {
			req := httptest.NewRequest("GET", path, nil)
			req.Header.Set("Authorization", "Bearer t")
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				srv.ServeHTTP(rec, req)
				if rec.Code != 200 {
					b.Fatalf("%s: %d", path, rec.Code)
				}
			}
		})
	}
}

// BenchmarkHubRSS1M runs a hub (a child process: this test binary) on the
// 1 M-alert fixture, loads every page a few times, and reports the
// child's peak resident set size.
func BenchmarkHubRSS1M(b *testing.B) {
	dsn := fixture1M(b)
	broker := mosquittotest.Start(b)
	for b.Loop() {
		cmd := selfCommand("-test.run=^$", "-test.bench=^$")
		cmd.Env = append(os.Environ(), envHubChild+"="+dsn, envHubBroker+"="+broker.URL())
		out, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		if !sc.Scan() {
			b.Fatal("hub child printed no address")
		}
		base := "http://" + strings.TrimSpace(sc.Text())
		go io.Copy(io.Discard, out)
		for range 5 {
			for _, path := range []string{"/", "/api/v1/devices", "/alerts", "/devices/cam-0500", "/api/v1/alerts?limit=1000", "/api/v1/alerts?format=csv&device=cam-0001"} {
				req, _ := http.NewRequest("GET", base+path, nil)
				req.Header.Set("Authorization", "Bearer t")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("%s: %d", path, resp.StatusCode)
				}
			}
		}
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
		if err != nil {
			b.Fatal(err)
		}
		cmd.Process.Kill()
		cmd.Wait()
		for line := range strings.SplitSeq(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
				b.ReportMetric(float64(kb)/1024, "peak-RSS-MB")
			}
		}
	}
}

// Environment of the hub child of BenchmarkHubRSS1M.
const (
	envHubChild  = "OOD_HUB_BENCH_CHILD" // the database
	envHubBroker = "OOD_HUB_BENCH_BROKER"
)

// TestMain turns the test binary into a hub when BenchmarkHubRSS1M
// starts it.
func TestMain(m *testing.M) {
	if dsn := os.Getenv(envHubChild); dsn != "" {
		err := hub.Run(context.Background(), hub.Config{
			Database: dsn, Listen: "127.0.0.1:0", Token: "t",
			Ingest: ingest.Options{Broker: os.Getenv(envHubBroker), ClientID: "rss-hub", Prefix: "ood"},
			Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
			Ready:  func(a net.Addr) { fmt.Println(a.String()) },
		})
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// selfCommand re-executes the test binary; under qemu user emulation
// (make test-arm) through the emulator, which does not follow execve.
func selfCommand(args ...string) *exec.Cmd {
	if emu := os.Getenv("OOD_AGENT_TEST_EMULATOR"); emu != "" {
		return exec.Command(emu, append([]string{os.Args[0]}, args...)...)
	}
	return exec.Command(os.Args[0], args...)
}
