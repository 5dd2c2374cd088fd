package mqtt

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// TLSOptions locate the PEM files used for a TLS broker connection.
type TLSOptions struct {
	// CAFile holds the certificates that verify the broker. Empty means
	// the system roots.
	CAFile string
	// CertFile and KeyFile hold the client certificate and its private
	// key for mutual TLS. Both or neither must be set.
	CertFile string
	KeyFile  string
	// ServerName overrides the name checked against the broker's
	// certificate; empty means the broker URL's host.
	ServerName string
	// InsecureSkipVerify disables verification of the broker's
	// certificate. It is meant for bench setups only.
	InsecureSkipVerify bool
}

// IsZero reports whether no TLS option is set.
func (o TLSOptions) IsZero() bool {
	return o == TLSOptions{}
}

// Config builds a *tls.Config from the files. Errors name the file at
// fault: missing or unreadable, without PEM certificates, or a key that
// does not match its certificate.
func (o TLSOptions) Config() (*tls.Config, error) {
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         o.ServerName,
		InsecureSkipVerify: o.InsecureSkipVerify,
	}
	if o.CAFile != "" {
		data, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		pool, err := parseCertPool(data)
		if err != nil {
			return nil, fmt.Errorf("CA file %s: %w", o.CAFile, err)
		}
		cfg.RootCAs = pool
	}
	switch {
	case o.CertFile == "" && o.KeyFile == "":
	case o.CertFile == "":
		return nil, fmt.Errorf("TLS key file %s given without a certificate file", o.KeyFile)
	case o.KeyFile == "":
		return nil, fmt.Errorf("TLS certificate file %s given without a key file", o.CertFile)
	default:
		certPEM, err := os.ReadFile(o.CertFile)
		if err != nil {
			return nil, fmt.Errorf("read client certificate file: %w", err)
		}
		if _, err := parseCertPool(certPEM); err != nil {
			return nil, fmt.Errorf("client certificate file %s: %w", o.CertFile, err)
		}
		keyPEM, err := os.ReadFile(o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("read client key file: %w", err)
		}
		if b, _ := pem.Decode(keyPEM); b == nil {
			return nil, fmt.Errorf("client key file %s: no PEM data found", o.KeyFile)
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("client key pair (certificate %s, key %s): %w", o.CertFile, o.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// errNoCertificates is returned by parseCertPool for input without any
// CERTIFICATE block.
var errNoCertificates = errors.New("no PEM certificates found")

// parseCertPool parses every CERTIFICATE block of PEM data. Unlike
// x509.CertPool.AppendCertsFromPEM it reports which certificate is
// broken instead of silently skipping it.
func parseCertPool(data []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	n := 0
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		n++
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", n, err)
		}
		pool.AddCert(cert)
	}
	if n == 0 {
		return nil, errNoCertificates
	}
	return pool, nil
}
