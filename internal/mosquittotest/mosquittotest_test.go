package mosquittotest

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// connack codes of MQTT 3.1.1.
const (
	accepted      = 0
	notAuthorized = 5
)

// mqttConnect performs a minimal MQTT 3.1.1 CONNECT handshake on conn and
// returns the CONNACK return code. It proves that a real broker answers,
// without depending on an MQTT client library.
func mqttConnect(conn net.Conn, clientID, username, password string) (byte, error) {
	str := func(s string) []byte {
		b := binary.BigEndian.AppendUint16(nil, uint16(len(s)))
		return append(b, s...)
	}
	flags := byte(0x02) // clean session
	var payload []byte
	payload = append(payload, str(clientID)...)
	if username != "" {
		flags |= 0x80 | 0x40
		payload = append(payload, str(username)...)
		payload = append(payload, str(password)...)
	}
	body := append(str("MQTT"), 4, flags, 0, 30)
	body = append(body, payload...)
	if len(body) > 127 {
		return 0, fmt.Errorf("test CONNECT too long: %d bytes", len(body))
	}
	pkt := append([]byte{0x10, byte(len(body))}, body...)
	if _, err := conn.Write(pkt); err != nil {
		return 0, fmt.Errorf("write CONNECT: %w", err)
	}
	var ack [4]byte
	if _, err := io.ReadFull(conn, ack[:]); err != nil {
		return 0, fmt.Errorf("read CONNACK: %w", err)
	}
	if ack[0] != 0x20 || ack[1] != 2 {
		return 0, fmt.Errorf("unexpected CONNACK header % x", ack[:2])
	}
	return ack[3], nil
}

func dialConnect(t *testing.T, addr, user, pass string) (byte, error) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	return mqttConnect(conn, "mosquittotest", user, pass)
}

func TestStartStopRestart(t *testing.T) {
	b := Start(t)
	if !strings.HasPrefix(b.URL(), "tcp://127.0.0.1:") {
		t.Errorf("URL() = %q, want tcp://127.0.0.1:PORT", b.URL())
	}
	if rc, err := dialConnect(t, b.Addr(), "", ""); err != nil || rc != accepted {
		t.Fatalf("CONNECT after Start = %d, %v, want %d, nil", rc, err, accepted)
	}
	addr := b.Addr()

	b.Stop()
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Errorf("dial %s after Stop succeeded, want error", addr)
	}
	b.Stop() // stopping twice is harmless

	b.Restart()
	if b.Addr() != addr {
		t.Errorf("Addr() after Restart = %s, want %s", b.Addr(), addr)
	}
	if rc, err := dialConnect(t, b.Addr(), "", ""); err != nil || rc != accepted {
		t.Fatalf("CONNECT after Restart = %d, %v, want %d, nil", rc, err, accepted)
	}
	if _, err := os.Stat(b.Dir() + "/data/mosquitto.db"); err != nil {
		t.Errorf("persistence database after Stop: %v", err)
	}
}

func TestWithUser(t *testing.T) {
	b := Start(t, WithUser("alice", "wonder land"), WithUser("bob", "builder"))
	tests := []struct {
		user, pass string
		want       byte
	}{
		{"alice", "wonder land", accepted},
		{"bob", "builder", accepted},
		{"alice", "wrong", notAuthorized},
		{"", "", notAuthorized},
	}
	for _, tt := range tests {
		t.Run(tt.user+"/"+tt.pass, func(t *testing.T) {
			rc, err := dialConnect(t, b.Addr(), tt.user, tt.pass)
			if err != nil {
				t.Fatal(err)
			}
			if rc != tt.want {
				t.Errorf("CONNECT(%q) return code = %d, want %d", tt.user, rc, tt.want)
			}
		})
	}
}

func TestWithTLS(t *testing.T) {
	b := Start(t, WithTLS())
	if !strings.HasPrefix(b.URL(), "ssl://127.0.0.1:") {
		t.Errorf("URL() = %q, want ssl://127.0.0.1:PORT", b.URL())
	}
	files := b.TLS()
	if files == nil {
		t.Fatal("TLS() = nil for a broker started WithTLS")
	}
	caPEM, err := os.ReadFile(files.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatalf("no certificates in %s", files.CAFile)
	}
	clientCert, err := tls.LoadX509KeyPair(files.ClientCertFile, files.ClientKeyFile)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		certs   []tls.Certificate
		wantErr bool
	}{
		{"client certificate", []tls.Certificate{clientCert}, false},
		{"no client certificate", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &tls.Config{RootCAs: roots, Certificates: tt.certs, ServerName: "127.0.0.1"}
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", b.Addr(), cfg)
			var rc byte
			if err == nil {
				// With TLS 1.3 a missing client certificate is only
				// reported on the first read.
				conn.SetDeadline(time.Now().Add(5 * time.Second))
				rc, err = mqttConnect(conn, "tls", "", "")
				conn.Close()
			}
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("TLS CONNECT error = %v, want error: %t", err, tt.wantErr)
			}
			if err == nil && rc != accepted {
				t.Errorf("TLS CONNECT return code = %d, want %d", rc, accepted)
			}
		})
	}

	t.Run("plain TCP refused", func(t *testing.T) {
		if rc, err := dialConnect(t, b.Addr(), "", ""); err == nil {
			t.Errorf("plain CONNECT to TLS listener = %d, nil, want error", rc)
		}
	})
}

func TestWriteCertsVerify(t *testing.T) {
	f, err := WriteCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(f.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	tests := []struct {
		certFile, keyFile string
		opts              x509.VerifyOptions
	}{
		{f.ServerCertFile, f.ServerKeyFile, x509.VerifyOptions{Roots: roots, DNSName: "localhost"}},
		{f.ServerCertFile, f.ServerKeyFile, x509.VerifyOptions{Roots: roots, DNSName: "127.0.0.1"}},
		{f.ClientCertFile, f.ClientKeyFile, x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}},
	}
	for _, tt := range tests {
		t.Run(tt.certFile+" "+tt.opts.DNSName, func(t *testing.T) {
			pair, err := tls.LoadX509KeyPair(tt.certFile, tt.keyFile)
			if err != nil {
				t.Fatalf("LoadX509KeyPair(%s, %s) = %v", tt.certFile, tt.keyFile, err)
			}
			if _, err := pair.Leaf.Verify(tt.opts); err != nil {
				t.Errorf("Verify(%s) = %v, want nil", tt.certFile, err)
			}
		})
	}
}

func TestProxyCut(t *testing.T) {
	b := Start(t)
	p := StartProxy(t, b.Addr())
	conn, err := net.DialTimeout("tcp", p.Addr(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if rc, err := mqttConnect(conn, "proxied", "", ""); err != nil || rc != accepted {
		t.Fatalf("CONNECT through proxy = %d, %v, want %d, nil", rc, err, accepted)
	}
	if n := p.Cut(); n != 1 {
		t.Errorf("Cut() = %d, want 1", n)
	}
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("Read after Cut = %v, want EOF", err)
	}

	// The proxy keeps accepting after a cut.
	if rc, err := dialConnect(t, p.Addr(), "", ""); err != nil || rc != accepted {
		t.Fatalf("CONNECT through proxy after Cut = %d, %v, want %d, nil", rc, err, accepted)
	}
}

func TestProxyBlackhole(t *testing.T) {
	b := Start(t)
	p := StartProxy(t, b.Addr())
	conn, err := net.DialTimeout("tcp", p.Addr(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	p.SetBlackhole(true)
	conn.SetDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := mqttConnect(conn, "blackholed", "", ""); err == nil {
		t.Fatal("CONNECT through blackholed proxy succeeded, want timeout")
	} else if ne := net.Error(nil); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("CONNECT through blackholed proxy = %v, want a timeout", err)
	}
	p.Cut()
	p.SetBlackhole(false)

	if rc, err := dialConnect(t, p.Addr(), "", ""); err != nil || rc != accepted {
		t.Fatalf("CONNECT after blackhole off = %d, %v, want %d, nil", rc, err, accepted)
	}
}
