package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ood-agent/ood-agent/agent/runner"
	"github.com/ood-agent/ood-agent/agent/source"
	"github.com/ood-agent/ood-agent/config"
	"github.com/ood-agent/ood-agent/model"
	"github.com/ood-agent/ood-agent/model/ood"
)

func newRunCommand() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "run --config FILE",
		Short: "Run the agent: classify frames, score them, publish OOD alerts over MQTT",
		Long: `Run the agent with a YAML configuration (see config/agent.example.yaml).
Every key can be overridden by an environment variable (OOD_AGENT_ and the key
in upper case with dots as underscores, e.g. OOD_AGENT_MQTT_BROKER) and by the
flags below. SIGHUP, or saving the config file, reloads the decision settings
and the threshold; SIGINT/SIGTERM stop the agent after ending open events and
flushing the outbox.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAgent(cmd.Context(), path, cmd.Flags(), nil, cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "configuration file (YAML)")
	cmd.Flags().String("device-id", "", "device id (device_id)")
	cmd.Flags().String("mqtt-broker", "", "broker URL (mqtt.broker)")
	cmd.Flags().String("model-path", "", "TFLite model (model.path)")
	cmd.Flags().String("model-calibration", "", "calibration file (model.calibration)")
	cmd.Flags().String("source-type", "", "dir, http, ffmpeg or stdin (source.type)")
	cmd.Flags().String("source-dir-path", "", "directory of frames (source.dir.path)")
	cmd.Flags().String("source-ffmpeg-input", "", "ffmpeg input: RTSP URL, /dev/videoN, file (source.ffmpeg.input)")
	cmd.Flags().String("log-level", "", "debug, info, warn or error (log.level)")
	return cmd
}

// runAgent loads the configuration and runs the agent until ctx ends or the
// source is exhausted. src, when set, replaces the configured source.
func runAgent(ctx context.Context, path string, flags *pflag.FlagSet, src source.Source, stderr io.Writer) error {
	cfg, err := config.Load(path, flags)
	if err != nil {
		return err
	}
	level := new(slog.LevelVar)
	level.Set(cfg.Log.SlogLevel())
	log := newLogger(stderr, cfg.Log.Format, level)
	file, calib, err := resolveModel(cfg)
	if err != nil {
		return err
	}
	log.Info("starting", "version", version, "device_id", cfg.DeviceID, "model", file.Name, "config_file", path,
		slog.GroupAttrs("config_not_default", cfg.Summary()...))
	opts := runner.Options{
		Config: cfg, Logger: log, Version: version, Model: file, Calibration: calib, Source: src, LogLevel: level,
	}
	if path != "" {
		// The reload command reads the file as SIGHUP does.
		opts.LoadConfig = func() (*config.Config, error) { return config.Load(path, flags) }
	}
	agent, err := runner.New(opts)
	if err != nil {
		return err
	}
	runner.TuneGC() // for the heap the model needs
	if path != "" {
		agent.Add("config watcher", func(ctx context.Context) error {
			watchConfig(ctx, path, flags, agent, log)
			return ctx.Err()
		})
	}
	// The agent tells systemd (Type=notify) when it is ready, feeds the
	// watchdog and reports reloads and stopping itself.
	return agent.Run(ctx)
}

func newLogger(w io.Writer, format string, level *slog.LevelVar) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == config.FormatJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// resolveModel opens the configured model and its calibration: an explicit
// calibration file, else <model>.calibration.json next to it, else the
// embedded one for embedded models.
func resolveModel(cfg *config.Config) (*model.File, *ood.Calibration, error) {
	file, embedded, err := openModel(cfg.Model.Path)
	if err != nil {
		return nil, nil, fmt.Errorf("model.path: %w", err)
	}
	calibPath := cfg.Model.Calibration
	if calibPath == "" && cfg.Model.Path != "" && !strings.HasPrefix(cfg.Model.Path, "zoo:") {
		calibPath = strings.TrimSuffix(cfg.Model.Path, filepath.Ext(cfg.Model.Path)) + ".calibration.json"
	}
	if calibPath == "" {
		return file, embedded, nil
	}
	calib, err := ood.Load(calibPath)
	if err != nil {
		return nil, nil, fmt.Errorf("model.calibration: %w", err)
	}
	if err := calib.CheckModel(file.SHA256()); err != nil {
		return nil, nil, fmt.Errorf("model.calibration %s: %w", calibPath, err)
	}
	return file, calib, nil
}

// watchConfig reloads the configuration on SIGHUP and when the file is
// written or replaced (editors and config management rename over it).
func watchConfig(ctx context.Context, path string, flags *pflag.FlagSet, agent *runner.Agent, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var changes <-chan fsnotify.Event
	if w, err := fsnotify.NewWatcher(); err != nil {
		log.Warn("config file not watched", "err", err)
	} else {
		defer w.Close()
		if err := w.Add(filepath.Dir(path)); err != nil {
			log.Warn("config file not watched", "err", err)
		}
		changes = w.Events
	}
	abs, _ := filepath.Abs(path)
	var debounce <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			reload(path, flags, agent, log)
		case ev := <-changes:
			if p, _ := filepath.Abs(ev.Name); p == abs && ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename) != 0 {
				debounce = time.After(200 * time.Millisecond)
			}
		case <-debounce:
			reload(path, flags, agent, log)
		}
	}
}

func reload(path string, flags *pflag.FlagSet, agent *runner.Agent, log *slog.Logger) {
	cfg, err := config.Load(path, flags)
	if err != nil {
		log.Error("reload rejected; keeping the running configuration", "err", err)
		return
	}
	if err := agent.Reload(cfg); err != nil {
		log.Warn("reload", "err", err)
	}
}
