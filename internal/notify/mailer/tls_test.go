package mailer

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"
)

// selfSignedTLS returns a server config with a throw-away certificate for
// 127.0.0.1, the kind of relay SMTP_INSECURE_TLS exists for.
func selfSignedTLS(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test relay"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:   time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

// Implicit TLS (port 465): the session is TLS from the first byte, and PLAIN
// is used over it. Guards: mailer.go `if s.mode == TLSImplicit {` in the
// dialer (without it the client speaks plain text to a TLS port and fails)
// and `gomail.WithOpportunisticSMTPAuth(authOverTLS...)` (go-mail's
// auto-discovery, not knowing the dialer encrypted the session, offers no
// mechanism this server has).
func TestSendImplicitTLSAuthenticatesWithPlain(t *testing.T) {
	plain, port := listen(t)
	session := serveSMTP(t, tls.NewListener(plain, selfSignedTLS(t)))
	m, err := New(Config{Host: "127.0.0.1", Port: port, User: "u", Password: "p", From: "noreply@test.local", InsecureTLS: true})
	if err != nil {
		t.Fatal(err)
	}
	m.mode = TLSImplicit // what port 465 gets; the test cannot bind 465
	if err := m.Send(context.Background(), Email{NotificationID: "id", To: "user@example.com", Subject: "s", HTML: "x"}); err != nil {
		t.Fatalf("send: %v", err)
	}
	s := <-session
	if !hasCommand(s, "AUTH PLAIN") || !hasCommand(s, "MAIL FROM") {
		t.Fatalf("commands %q", s.commands)
	}
}

// Without SMTP_INSECURE_TLS a self-signed certificate is refused. Guard:
// mailer.go `InsecureSkipVerify: s.cfg.InsecureTLS` (were it always true,
// the send would succeed).
func TestSendVerifiesCertificateByDefault(t *testing.T) {
	plain, port := listen(t)
	session := serveSMTP(t, tls.NewListener(plain, selfSignedTLS(t)))
	m, err := New(Config{Host: "127.0.0.1", Port: port, From: "noreply@test.local"})
	if err != nil {
		t.Fatal(err)
	}
	m.mode = TLSImplicit
	err = m.Send(context.Background(), Email{NotificationID: "id", To: "user@example.com", Subject: "s", HTML: "x"})
	if err == nil {
		t.Fatal("a self-signed certificate was accepted without SMTP_INSECURE_TLS")
	}
	if s := <-session; hasCommand(s, "MAIL") {
		t.Fatalf("mail handed over: %q", s.commands)
	}
}
