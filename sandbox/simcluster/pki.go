package simcluster

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// advertiseIP is what kube-apiserver publishes in the "kubernetes" Service's
// endpoints. It must not be loopback (apiserver validation); nothing binds it
// (TEST-NET-1).
const advertiseIP = "192.0.2.10"

// certSpec describes one leaf certificate signed by the cluster CA.
type certSpec struct {
	name   string // file base name under pki/
	cn     string
	orgs   []string
	server bool
	client bool
}

// leafCerts are every certificate the control plane uses. All share one CA:
// the cluster is single-tenant from the PKI's point of view.
var leafCerts = []certSpec{
	{name: "apiserver", cn: "kube-apiserver", server: true},
	{name: "admin", cn: "kubelab-admin", orgs: []string{"system:masters"}, client: true},
	{name: "controller-manager", cn: "system:kube-controller-manager", client: true},
	{name: "scheduler", cn: "system:kube-scheduler", client: true},
	{name: "kwok", cn: "kwok-controller", orgs: []string{"system:masters"}, client: true},
	{name: "apiserver-kubelet-client", cn: "kube-apiserver-kubelet-client", orgs: []string{"system:masters"}, client: true},
	{name: "front-proxy-client", cn: "front-proxy-client", client: true},
	{name: "etcd-server", cn: "etcd", server: true, client: true},
	{name: "apiserver-etcd-client", cn: "kube-apiserver-etcd-client", client: true},
	{name: "kwok-serving", cn: "kwok-kubelet", server: true},
}

// pki holds the paths of the generated material.
type pki struct {
	dir string
}

func (p pki) crt(name string) string { return filepath.Join(p.dir, name+".crt") }
func (p pki) key(name string) string { return filepath.Join(p.dir, name+".key") }
func (p pki) saKey() string          { return filepath.Join(p.dir, "sa.key") }
func (p pki) saPub() string          { return filepath.Join(p.dir, "sa.pub") }

// ensurePKI generates the CA, leaf certificates and service-account key pair
// on first start and reuses whatever already exists afterwards, so kubeconfigs
// handed out earlier stay valid across restarts.
func ensurePKI(dir string) (pki, error) {
	p := pki{dir: dir}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return p, fmt.Errorf("create pki dir: %w", err)
	}
	caCert, caKey, err := loadPair(p.crt("ca"), p.key("ca"))
	if errors.Is(err, os.ErrNotExist) {
		caCert, caKey, err = newCA()
		if err == nil {
			err = writePair(p.crt("ca"), p.key("ca"), caCert, caKey)
		}
	}
	if err != nil {
		return p, fmt.Errorf("ca: %w", err)
	}
	for _, s := range leafCerts {
		if fileExists(p.crt(s.name)) && fileExists(p.key(s.name)) {
			continue
		}
		cert, key, err := newLeaf(s, caCert, caKey)
		if err != nil {
			return p, fmt.Errorf("certificate %s: %w", s.name, err)
		}
		if err := writePair(p.crt(s.name), p.key(s.name), cert, key); err != nil {
			return p, fmt.Errorf("certificate %s: %w", s.name, err)
		}
	}
	if !fileExists(p.saKey()) || !fileExists(p.saPub()) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return p, fmt.Errorf("service account key: %w", err)
		}
		if err := writeKey(p.saKey(), key); err != nil {
			return p, err
		}
		der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
		if err != nil {
			return p, fmt.Errorf("service account public key: %w", err)
		}
		if err := os.WriteFile(p.saPub(), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
			return p, fmt.Errorf("write service account public key: %w", err)
		}
	}
	return p, nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
}

func newCA() (*x509.Certificate, *ecdsa.PrivateKey, error) {
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "kubelab-simcluster-ca"},
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	return sign(tmpl, nil, nil)
}

// sign fills in the key, serial number and validity of tmpl and signs it
// with caKey (itself when ca is nil).
func sign(tmpl, ca *x509.Certificate, caKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	if tmpl.SerialNumber, err = serial(); err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), now.AddDate(10, 0, 0)
	if ca == nil {
		ca, caKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

func newLeaf(s certSpec, ca *x509.Certificate, caKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	tmpl := &x509.Certificate{
		Subject:  pkix.Name{CommonName: s.cn, Organization: s.orgs},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	if s.server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
		tmpl.DNSNames = []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.96.0.1"), net.ParseIP(advertiseIP)}
	}
	if s.client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	return sign(tmpl, ca, caKey)
}

func writePair(crtPath, keyPath string, cert *x509.Certificate, key *ecdsa.PrivateKey) error {
	if err := os.WriteFile(crtPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", crtPath, err)
	}
	return writeKey(keyPath, key)
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return fmt.Errorf("marshal key: %w", err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func loadPair(crtPath, keyPath string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	crtPEM, err := os.ReadFile(crtPath)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, err
	}
	cb, _ := pem.Decode(crtPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, nil, fmt.Errorf("decode %s: not PEM", crtPath)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("parse %s: %w", crtPath, err)
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("parse %s: %w", keyPath, err)
	}
	return cert, key, nil
}
