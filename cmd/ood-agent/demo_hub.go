//go:build hub

package main

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ood-agent/ood-agent/agent/control"
	"github.com/ood-agent/ood-agent/hub"
	"github.com/ood-agent/ood-agent/hub/ingest"
)

// demoCamera is a simulated camera of `demo --hub`: a real agent reading a
// directory into which the demo drops bundled frames, a given share of
// them out of distribution.
type demoCamera struct {
	id      string
	oodRate float64
	every   time.Duration
}

var demoCameras = []demoCamera{
	{"cam-entrance", 0.05, 1500 * time.Millisecond},
	{"cam-loading-dock", 0.25, time.Second},
	{"cam-yard", 0.6, 2 * time.Second},
}

// runDemoHub runs an embedded broker, three real agents and a hub on
// SQLite until ctx ends, and prints the URL that logs a browser in.
func runDemoHub(ctx context.Context, stdout, stderr io.Writer, listen string, verbose bool) error {
	env, err := startDemoEnv(stderr, verbose, "ood-agent-demo-hub-")
	if err != nil {
		return err
	}
	defer env.Close()
	// The bundled frames 01–08 are Fashion-MNIST (in distribution), the
	// rest digits, noise and a checkerboard.
	var inDist, outDist []string
	for _, n := range env.names {
		if strings.Contains(n, "-fashion-") {
			inDist = append(inDist, n)
		} else {
			outDist = append(outDist, n)
		}
	}

	var tok [16]byte
	crand.Read(tok[:])
	token := hex.EncodeToString(tok[:])
	// Fleet control is on, with a key made for this run: the cameras
	// trust it, so the hub's command buttons, rollouts and alert labels
	// work as in a real fleet.
	key, err := control.GenerateKey(nil)
	if err != nil {
		return err
	}
	signer := control.NewSigner(key)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1+len(demoCameras))
	ready := make(chan net.Addr, 1)
	go func() {
		errc <- hub.Run(ctx, hub.Config{
			Database: "sqlite://" + filepath.Join(env.dir, "hub.db"), Listen: listen, Token: token,
			Signer: signer, DataDir: filepath.Join(env.dir, "hub-data"),
			Ingest: ingest.Options{Broker: env.broker.URL(), ClientID: "demo-hub", Prefix: "ood", Evidence: true},
			Logger: env.log.With("component", "hub"), Ready: func(a net.Addr) { ready <- a },
		})
	}()
	var addr net.Addr
	select {
	case addr = <-ready:
	case err := <-errc:
		return err
	}

	for _, cam := range demoCameras {
		inbox := filepath.Join(env.dir, cam.id)
		if err := os.Mkdir(inbox, 0o755); err != nil {
			return err
		}
		// Each camera has its own state directory (the outbox's): its
		// feedback store, control state and rolled-out models.
		flags, err := demoFlags(cam.id, map[string]string{
			"device_id": cam.id, "mqtt.broker": env.broker.URL(), "source.type": "dir",
			"source.dir.path": inbox, "source.dir.watch": "true", "outbox.path": filepath.Join(env.dir, cam.id+"-state", "outbox.db"),
			"http.listen": "", "mqtt.stats_interval": "10s", "mqtt.evidence.enabled": "true", "log.level": "warn",
			"control.trusted_keys": signer.PublicKey(), "control.rollout.hub_url": "http://" + addr.String() + "/",
			"control.rollout.allow_http": "true", "feedback.enabled": "true",
			// Three labels of one camera start its adaptation within
			// seconds, so that the device page shows what came of them.
			"adapt.enabled": "true", "adapt.min_labels": "3", "adapt.interval": "5s",
		})
		if err != nil {
			return err
		}
		go func() { errc <- runAgent(ctx, "", flags, nil, env.logOut) }()
		go feedCamera(ctx, cam, env.frames, inbox, inDist, outDist)
	}

	fmt.Fprintf(stdout, "ood-agent demo --hub: embedded broker at %s, %d simulated cameras, hub on SQLite in %s\n\n", env.broker.URL(), len(demoCameras), env.dir)
	fmt.Fprintf(stdout, "Open the hub (the link logs you in):\n\n    http://%s/?token=%s\n\n", addr, token)
	fmt.Fprintf(stdout, "Fleet control is on (the cameras trust this run's key): pause or reload a camera from its page,\nroll out a model, and label alerts on the Alerts page (false alarm / confirmed): three labels of one camera\nstart its adaptation, whose stages its page lists under Adaptations.\n\n")
	fmt.Fprintf(stdout, "The same token works for the API:\n\n    curl -H 'Authorization: Bearer %s' http://%s/api/v1/devices\n\nPress Ctrl-C to stop.\n", token, addr)
	select {
	case <-ctx.Done():
		return nil
	case err := <-errc:
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
}

// feedCamera drops a frame into the camera's inbox every cam.every, out of
// distribution with probability cam.oodRate, and removes old ones. The
// file is written under a dot name and renamed, so the agent never reads
// half a frame.
func feedCamera(ctx context.Context, cam demoCamera, frames, inbox string, inDist, outDist []string) {
	tick := time.NewTicker(cam.every)
	defer tick.Stop()
	var written []string
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		pick := inDist
		if rand.Float64() < cam.oodRate {
			pick = outDist
		}
		src := pick[rand.IntN(len(pick))]
		data, err := os.ReadFile(filepath.Join(frames, src))
		if err != nil {
			continue
		}
		name := fmt.Sprintf("%06d-%s", n, src)
		tmp := filepath.Join(inbox, "."+name)
		if os.WriteFile(tmp, data, 0o644) != nil || os.Rename(tmp, filepath.Join(inbox, name)) != nil {
			continue
		}
		written = append(written, name)
		if len(written) > 20 {
			os.Remove(filepath.Join(inbox, written[0]))
			written = written[1:]
		}
	}
}
