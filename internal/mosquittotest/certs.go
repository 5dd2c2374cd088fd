package mosquittotest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// TLSFiles are the PEM files of a generated test PKI: a CA, a server
// certificate for 127.0.0.1, ::1 and localhost, and a client certificate,
// all signed by the CA.
type TLSFiles struct {
	CAFile         string
	ServerCertFile string
	ServerKeyFile  string
	ClientCertFile string
	ClientKeyFile  string
}

// WriteCerts generates a fresh test PKI into dir, creating it if needed.
// Keys are ECDSA P-256, which is quick to generate; certificates are valid
// from an hour ago for a day.
func WriteCerts(dir string) (TLSFiles, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return TLSFiles{}, fmt.Errorf("create cert dir: %w", err)
	}
	f := TLSFiles{
		CAFile:         filepath.Join(dir, "ca.pem"),
		ServerCertFile: filepath.Join(dir, "server.pem"),
		ServerKeyFile:  filepath.Join(dir, "server-key.pem"),
		ClientCertFile: filepath.Join(dir, "client.pem"),
		ClientKeyFile:  filepath.Join(dir, "client-key.pem"),
	}
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return TLSFiles{}, fmt.Errorf("generate CA key: %w", err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mosquittotest CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return TLSFiles{}, fmt.Errorf("create CA certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return TLSFiles{}, fmt.Errorf("parse CA certificate: %w", err)
	}
	if err := writePEM(f.CAFile, "CERTIFICATE", caDER); err != nil {
		return TLSFiles{}, err
	}

	leaves := []struct {
		tmpl              *x509.Certificate
		certFile, keyFile string
	}{
		{
			tmpl: &x509.Certificate{
				SerialNumber: big.NewInt(2),
				Subject:      pkix.Name{CommonName: "localhost"},
				DNSNames:     []string{"localhost"},
				IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
				ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			},
			certFile: f.ServerCertFile, keyFile: f.ServerKeyFile,
		},
		{
			tmpl: &x509.Certificate{
				SerialNumber: big.NewInt(3),
				Subject:      pkix.Name{CommonName: "mosquittotest client"},
				ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
			},
			certFile: f.ClientCertFile, keyFile: f.ClientKeyFile,
		},
	}
	for _, l := range leaves {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return TLSFiles{}, fmt.Errorf("generate key for %s: %w", l.certFile, err)
		}
		l.tmpl.NotBefore = now.Add(-time.Hour)
		l.tmpl.NotAfter = now.Add(24 * time.Hour)
		l.tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		der, err := x509.CreateCertificate(rand.Reader, l.tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return TLSFiles{}, fmt.Errorf("create certificate %s: %w", l.certFile, err)
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return TLSFiles{}, fmt.Errorf("marshal key %s: %w", l.keyFile, err)
		}
		if err := writePEM(l.certFile, "CERTIFICATE", der); err != nil {
			return TLSFiles{}, err
		}
		if err := writePEM(l.keyFile, "PRIVATE KEY", keyDER); err != nil {
			return TLSFiles{}, err
		}
	}
	return f, nil
}

func writePEM(path, blockType string, der []byte) error {
	data := pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der})
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
