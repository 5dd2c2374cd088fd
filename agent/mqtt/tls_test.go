package mqtt

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ood-agent/ood-agent/internal/mosquittotest"
)

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTLSOptionsConfigErrors(t *testing.T) {
	dir := t.TempDir()
	pki, err := mosquittotest.WriteCerts(filepath.Join(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	other, err := mosquittotest.WriteCerts(filepath.Join(dir, "b"))
	if err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	noPEM := writeFile(t, dir, "nopem.pem", "this is not PEM\n")
	badCert := writeFile(t, dir, "badcert.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")

	tests := []struct {
		name string
		opts TLSOptions
		// want are substrings of the error, typically the file at fault
		// and the reason.
		want []string
	}{
		{"missing CA", TLSOptions{CAFile: missing}, []string{missing, "no such file"}},
		{"CA without PEM", TLSOptions{CAFile: noPEM}, []string{noPEM, "no PEM certificates"}},
		{"CA with broken certificate", TLSOptions{CAFile: badCert}, []string{badCert, "certificate 1"}},
		{"CA is a key", TLSOptions{CAFile: pki.ClientKeyFile}, []string{pki.ClientKeyFile, "no PEM certificates"}},
		{"cert without key", TLSOptions{CertFile: pki.ClientCertFile}, []string{pki.ClientCertFile, "without a key file"}},
		{"key without cert", TLSOptions{KeyFile: pki.ClientKeyFile}, []string{pki.ClientKeyFile, "without a certificate file"}},
		{"missing cert", TLSOptions{CertFile: missing, KeyFile: pki.ClientKeyFile}, []string{missing, "no such file"}},
		{"missing key", TLSOptions{CertFile: pki.ClientCertFile, KeyFile: missing}, []string{missing, "no such file"}},
		{"cert without PEM", TLSOptions{CertFile: noPEM, KeyFile: pki.ClientKeyFile}, []string{noPEM, "no PEM certificates"}},
		{"key without PEM", TLSOptions{CertFile: pki.ClientCertFile, KeyFile: noPEM}, []string{noPEM, "no PEM data"}},
		{
			"key does not match cert",
			TLSOptions{CertFile: pki.ClientCertFile, KeyFile: other.ClientKeyFile},
			[]string{pki.ClientCertFile, other.ClientKeyFile, "does not match"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := tt.opts.Config()
			if err == nil {
				t.Fatalf("Config(%+v) = %v, nil, want error", tt.opts, cfg)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Config(%+v) error = %q, want it to contain %q", tt.opts, err, w)
				}
			}
		})
	}
}

func TestTLSOptionsConfig(t *testing.T) {
	pki, err := mosquittotest.WriteCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		opts      TLSOptions
		wantRoots bool
		wantCerts int
	}{
		{"system roots", TLSOptions{}, false, 0},
		{"CA only", TLSOptions{CAFile: pki.CAFile}, true, 0},
		{"mutual TLS", TLSOptions{CAFile: pki.CAFile, CertFile: pki.ClientCertFile, KeyFile: pki.ClientKeyFile, ServerName: "broker.example"}, true, 1},
		{"insecure", TLSOptions{InsecureSkipVerify: true}, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := tt.opts.Config()
			if err != nil {
				t.Fatalf("Config(%+v) = %v", tt.opts, err)
			}
			if got := cfg.RootCAs != nil; got != tt.wantRoots {
				t.Errorf("Config(%+v).RootCAs set = %t, want %t", tt.opts, got, tt.wantRoots)
			}
			if got := len(cfg.Certificates); got != tt.wantCerts {
				t.Errorf("len(Config(%+v).Certificates) = %d, want %d", tt.opts, got, tt.wantCerts)
			}
			if cfg.ServerName != tt.opts.ServerName || cfg.InsecureSkipVerify != tt.opts.InsecureSkipVerify {
				t.Errorf("Config(%+v) ServerName, InsecureSkipVerify = %q, %t, want %q, %t",
					tt.opts, cfg.ServerName, cfg.InsecureSkipVerify, tt.opts.ServerName, tt.opts.InsecureSkipVerify)
			}
		})
	}
}

func FuzzParseCertPool(f *testing.F) {
	pki, err := mosquittotest.WriteCerts(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range []string{pki.CAFile, pki.ServerCertFile, pki.ClientKeyFile} {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		pool, err := parseCertPool(data)
		if (pool == nil) == (err == nil) {
			t.Fatalf("parseCertPool = %v, %v: want exactly one of pool and error", pool, err)
		}
	})
}
