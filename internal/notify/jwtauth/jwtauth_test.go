package jwtauth

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

type fakeAuth struct {
	keys    map[string]ed25519.PrivateKey
	revoked atomic.Bool
	// validateStatus, when set, is the status /validate answers instead of its verdict.
	validateStatus atomic.Int32
	jwksCalls      atomic.Int32
	srv            *httptest.Server
}

func newFakeAuth(t *testing.T) *fakeAuth {
	f := &fakeAuth{keys: map[string]ed25519.PrivateKey{}}
	f.addKey(t, "k1")
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/auth/jwks":
			f.jwksCalls.Add(1)
			var keys []map[string]string
			for kid, k := range f.keys {
				keys = append(keys, map[string]string{"kty": "OKP", "crv": "Ed25519", "kid": kid,
					"x": base64.RawURLEncoding.EncodeToString(k.Public().(ed25519.PublicKey))})
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"keys": keys})
		case "/api/v1/auth/validate":
			var in struct{ Token string }
			_ = json.NewDecoder(r.Body).Decode(&in)
			if st := f.validateStatus.Load(); st != 0 {
				w.WriteHeader(int(st))
				return
			}
			if f.revoked.Load() {
				_ = json.NewEncoder(w).Encode(map[string]any{"valid": false})
				return
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"valid": true, "payload": map[string]string{"sub": "user-1"}})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAuth) addKey(t *testing.T, kid string) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f.keys[kid] = priv
}

func mint(t *testing.T, key ed25519.PrivateKey, alg, kid string, exp time.Time) string {
	t.Helper()
	h, _ := json.Marshal(map[string]string{"alg": alg, "kid": kid, "typ": "JWT"})
	p, _ := json.Marshal(map[string]any{"sub": "user-1", "email": "u@example.com", "sid": "s1", "exp": exp.Unix()})
	in := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p)
	return in + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(key, []byte(in)))
}

func TestAuthenticate(t *testing.T) {
	f := newFakeAuth(t)
	v := New(f.srv.URL, f.srv.Client(), time.Hour)
	ctx := context.Background()
	exp := time.Now().Add(time.Minute)

	u, err := v.Authenticate(ctx, mint(t, f.keys["k1"], "EdDSA", "k1", exp))
	if err != nil || u.ID != "user-1" || u.Email != "u@example.com" || u.SessionID != "s1" {
		t.Fatalf("valid token: %+v %v", u, err)
	}
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	for name, tok := range map[string]string{
		// Guard: ed25519.Verify — the seed trusted unverified claims.
		"signed by another key": mint(t, other, "EdDSA", "k1", exp),
		// Guard: `header.Alg != "EdDSA"`.
		"alg none": mint(t, f.keys["k1"], "none", "k1", exp),
		// Guard: `now >= c.Exp`.
		"expired":   mint(t, f.keys["k1"], "EdDSA", "k1", time.Now().Add(-time.Second)),
		"malformed": "a.b",
	} {
		if _, err := v.Authenticate(ctx, tok); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err %v, want ErrInvalid", name, err)
		}
	}

	// Guard: checkLive — a revoked session's token keeps a valid signature.
	f.revoked.Store(true)
	if _, err := v.Authenticate(ctx, mint(t, f.keys["k1"], "EdDSA", "k1", exp)); !errors.Is(err, ErrInvalid) {
		t.Errorf("revoked session: err %v, want ErrInvalid", err)
	}
}

// Unknown kids refetch the JWKS (a rotated key is found), at most once per
// minRefetch, so garbage kids cannot flood mana-auth.
func TestUnknownKidRefetchIsRateLimited(t *testing.T) {
	f := newFakeAuth(t)
	now := time.Now()
	v := New(f.srv.URL, f.srv.Client(), 10*time.Second)
	v.now = func() time.Time { return now }
	ctx := context.Background()
	exp := now.Add(time.Minute)
	if _, err := v.Authenticate(ctx, mint(t, f.keys["k1"], "EdDSA", "k1", exp)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if _, err := v.Authenticate(ctx, mint(t, f.keys["k1"], "EdDSA", "nope", exp)); !errors.Is(err, ErrInvalid) {
			t.Fatalf("unknown kid: %v", err)
		}
	}
	if n := f.jwksCalls.Load(); n != 1 {
		t.Fatalf("jwks fetched %d times within the interval, want 1", n)
	}
	f.addKey(t, "k2")
	now = now.Add(11 * time.Second)
	if _, err := v.Authenticate(ctx, mint(t, f.keys["k2"], "EdDSA", "k2", exp)); err != nil {
		t.Fatalf("rotated key after the interval: %v", err)
	}
}

// Guard: transport errors map to ErrUnavailable (503), never to a pass.
func TestAuthDownFailsClosed(t *testing.T) {
	f := newFakeAuth(t)
	tok := mint(t, f.keys["k1"], "EdDSA", "k1", time.Now().Add(time.Minute))
	url := f.srv.URL
	f.srv.Close()
	v := New(url, http.DefaultClient, time.Second)
	if _, err := v.Authenticate(context.Background(), tok); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err %v, want ErrUnavailable", err)
	}
}

// A /validate answer other than 200 carries no verdict: ErrUnavailable (503),
// never ErrInvalid (401, "your session ended"). Negative control: the old
// `if resp.StatusCode >= 500` check with `if resp.StatusCode != http.StatusOK
// { return ErrInvalid }` fails this for 404 and 429.
func TestValidateWithoutVerdictIsUnavailable(t *testing.T) {
	for _, status := range []int{http.StatusNotFound, http.StatusTooManyRequests, http.StatusBadGateway} {
		f := newFakeAuth(t)
		f.validateStatus.Store(int32(status))
		tok := mint(t, f.keys["k1"], "EdDSA", "k1", time.Now().Add(time.Minute))
		v := New(f.srv.URL, http.DefaultClient, time.Second)
		if _, err := v.Authenticate(context.Background(), tok); !errors.Is(err, ErrUnavailable) {
			t.Errorf("validate answering %d: err %v, want ErrUnavailable", status, err)
		}
	}
}
