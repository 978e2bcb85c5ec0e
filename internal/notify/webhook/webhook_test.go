package webhook

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestSendSignsBodyAndKeepsOurHeaders(t *testing.T) {
	secret := []byte("s3cret")
	var gotSig, gotMethod, gotCustom string
	var gotBody []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotSig, gotMethod, gotCustom = r.Header.Get(SignatureHeader), r.Method, r.Header.Get("X-Custom")
		gotBody, _ = io.ReadAll(r.Body)
	}))
	defer srv.Close()
	s := &Sender{Client: srv.Client(), Secret: secret}
	body := []byte(`{"id":"1"}`)
	// A caller header named like ours must not replace the signature.
	code, err := s.Send(context.Background(), Request{NotificationID: "1", URL: srv.URL, Method: "PUT", Body: body,
		Headers: map[string]string{"X-Custom": "c", SignatureHeader: "sha256=forged"}})
	if err != nil || code != 200 {
		t.Fatalf("Send = %d %v", code, err)
	}
	if gotMethod != "PUT" || gotCustom != "c" || string(gotBody) != string(body) {
		t.Fatalf("method %s custom %q body %s", gotMethod, gotCustom, gotBody)
	}
	if !Verify(secret, gotBody, gotSig) || Verify([]byte("other"), gotBody, gotSig) {
		t.Fatalf("signature %q does not verify with the secret only", gotSig)
	}
}

// Guard: `if resp.StatusCode < 200 || resp.StatusCode > 299` — a 5xx must be
// a failed attempt (retried), with its status for the delivery log.
func TestSendNon2xxIsAnError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "nope", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	code, err := (&Sender{Client: srv.Client(), Secret: []byte("k")}).Send(context.Background(), Request{URL: srv.URL, Body: []byte("{}")})
	if err == nil || code != 503 || !strings.Contains(err.Error(), "503") {
		t.Fatalf("Send = %d %v", code, err)
	}
}

// Guard: the empty-secret check — unsigned webhooks are refused.
func TestSendWithoutSecretRefuses(t *testing.T) {
	called := false
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true }))
	defer srv.Close()
	if _, err := (&Sender{Client: srv.Client()}).Send(context.Background(), Request{URL: srv.URL}); err == nil || called {
		t.Fatalf("err %v called %v", err, called)
	}
}

func TestSendTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
		}
	}))
	defer srv.Close()
	start := time.Now()
	_, err := (&Sender{Client: srv.Client(), Secret: []byte("k")}).Send(context.Background(),
		Request{URL: srv.URL, Timeout: 50 * time.Millisecond})
	if err == nil || time.Since(start) > time.Second {
		t.Fatalf("err %v after %v", err, time.Since(start))
	}
}

// Guard: NewClient's dialer.Control — without it a service-key caller could
// make mana-notify call its own network (127.0.0.1 here).
func TestPrivateTargetsRefusedByDefault(t *testing.T) {
	called := false
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true }))
	defer srv.Close()
	_, err := (&Sender{Client: NewClient(false), Secret: []byte("k")}).Send(context.Background(), Request{URL: srv.URL, Body: []byte("{}")})
	if !errors.Is(err, ErrPrivateAddress) || called {
		t.Fatalf("err %v called %v, want ErrPrivateAddress and no request", err, called)
	}
	if code, err := (&Sender{Client: NewClient(true), Secret: []byte("k")}).Send(context.Background(), Request{URL: srv.URL, Body: []byte("{}")}); err != nil || code != 200 || !called {
		t.Fatalf("allowed private: %d %v", code, err)
	}
}

// Redirects are not followed: a 3xx is a failed attempt, not a hop to
// wherever the receiver points.
func TestRedirectNotFollowed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://169.254.169.254/latest", http.StatusFound)
	}))
	defer srv.Close()
	code, err := (&Sender{Client: NewClient(true), Secret: []byte("k")}).Send(context.Background(), Request{URL: srv.URL, Body: []byte("{}")})
	if err == nil || code != http.StatusFound {
		t.Fatalf("redirect: %d %v", code, err)
	}
}

// Guard: isInternal's ranges. Negative control: without internalPrefixes the
// CGNAT, 0/8 and reserved cases pass; without the nat64 branch the
// 64:ff9b:: forms of loopback and metadata pass.
func TestIsInternal(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1": true, "10.1.2.3": true, "172.16.0.1": true, "192.168.1.1": true, "169.254.169.254": true,
		"::1": true, "fd00::1": true, "fe80::1": true, "::ffff:127.0.0.1": true, "0.0.0.0": true,
		"0.1.2.3": true, "100.100.100.200": true, "100.64.0.1": true, "192.0.0.170": true, "198.18.0.1": true,
		"240.0.0.1": true, "255.255.255.255": true, "64:ff9b::7f00:1": true, "64:ff9b::a9fe:a9fe": true,
		"93.184.216.34": false, "1.1.1.1": false, "100.128.0.1": false, "2606:4700::1111": false,
		"64:ff9b::5db8:d822": false,
	} {
		if got := isInternal(netip.MustParseAddr(addr)); got != want {
			t.Errorf("isInternal(%s) = %v, want %v", addr, got, want)
		}
	}
}
