package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestResolvePassword(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pw")
	if err := os.WriteFile(file, []byte("  from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		m       MQTT
		want    string
		wantErr string
	}{
		{"none", MQTT{}, "", ""},
		{"inline", MQTT{Password: "inline"}, "inline", ""},
		{"file trimmed", MQTT{PasswordFile: file}, "from-file", ""},
		{"both", MQTT{Password: "x", PasswordFile: file}, "", "both set"},
		{"missing file", MQTT{PasswordFile: filepath.Join(dir, "absent")}, "", "mqtt.password_file:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.m.ResolvePassword()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ResolvePassword() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ResolvePassword() = %q, %v, want %q, nil", got, err, tt.want)
			}
		})
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	const pw = "hunter2-pw"
	const urlPW = "cam-pw-77"
	c := Default()
	c.MQTT.Password = pw
	c.MQTT.Broker = "ssl://agent:" + urlPW + "@127.0.0.1:8883"
	c.Source.HTTP.URL = "http://admin:" + urlPW + "@127.0.0.1/snap.jpg"
	c.Source.FFmpeg.Input = "rtsp://admin:" + urlPW + "@127.0.0.1/a b" // not a valid URL

	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "cfg", c)
	jsonMQTT, err := json.Marshal(c.MQTT)
	if err != nil {
		t.Fatal(err)
	}
	// The whole configuration hides passwords in URLs as well; the Secret
	// type hides the password however the struct holding it is printed.
	outputs := []struct {
		name, out string
		secrets   []string
	}{
		{"String", c.String(), []string{pw, urlPW}},
		{"slog", logged.String(), []string{pw, urlPW}},
		{"%v MQTT", fmt.Sprintf("%v", c.MQTT), []string{pw}},
		{"%+v MQTT", fmt.Sprintf("%+v", c.MQTT), []string{pw}},
		{"%#v MQTT", fmt.Sprintf("%#v", c.MQTT), []string{pw}},
		{"json MQTT", string(jsonMQTT), []string{pw}},
		{"%s password", fmt.Sprintf("%s", c.MQTT.Password), []string{pw}},
	}
	for _, o := range outputs {
		for _, s := range o.secrets {
			if strings.Contains(o.out, s) {
				t.Errorf("%s output shows secret %q: %s", o.name, s, o.out)
			}
		}
		if !strings.Contains(o.out, redacted) {
			t.Errorf("%s output has no redaction marker: %s", o.name, o.out)
		}
	}
	if !strings.Contains(logged.String(), `"qos":1`) {
		t.Errorf("slog output lacks the non-secret keys: %s", logged.String())
	}
}

func TestStringRoundTrip(t *testing.T) {
	th := 2.5
	c := Default()
	c.DeviceID = "cam \"quoted\" ünïcode"
	c.Decision.Threshold = &th
	c.Preprocess.Mean = []float64{0.5, 1, 1e-7}
	c.Source.FFmpeg.InputArgs = []string{"-rtsp_transport", "tcp, or not"}
	c.Source.FPS = 3
	c.HTTP.Listen = ""

	got, err := load([]byte(c.String()), nil, false)
	if err != nil {
		t.Fatalf("load(String()) error: %v\n%s", err, c)
	}
	if !reflect.DeepEqual(got, c) {
		t.Errorf("load(String()) =\n%v\nwant\n%v", got, c)
	}
}
