package token

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mana/mana/internal/kek"
)

type memKeys struct {
	mu   sync.Mutex
	keys []StoredKey
}

func (m *memKeys) LoadKeys(context.Context) ([]StoredKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]StoredKey(nil), m.keys...), nil
}

func (m *memKeys) InsertKey(_ context.Context, k StoredKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k.CreatedAt = time.Now()
	m.keys = append(m.keys, k)
	return nil
}

func (m *memKeys) RetireKey(_ context.Context, kid string, notAfter time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.keys {
		if m.keys[i].ID == kid && m.keys[i].NotAfter == nil {
			m.keys[i].NotAfter = &notAfter
			return true, nil
		}
	}
	return false, nil
}

func (m *memKeys) WithKeyLock(_ context.Context, fn func() error) error {
	return fn()
}

func newIssuer(t testing.TB, store KeyStore, now func() time.Time) *Issuer {
	t.Helper()
	ring, err := kek.NewRing(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	iss, err := NewIssuer(context.Background(), Config{Store: store, Ring: ring, Issuer: "http://auth.test", Audience: "mana",
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

func TestMintVerify(t *testing.T) {
	iss := newIssuer(t, &memKeys{}, nil)
	tok, _, err := iss.Mint(Claims{Sub: "u1", Email: "a@b.io", Role: "admin", Sid: "s1", Tier: "public"})
	if err != nil {
		t.Fatal(err)
	}
	c, raw, err := iss.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.Sub != "u1" || c.Role != "admin" || c.Sid != "s1" || c.Aud != "mana" || c.Iss != "http://auth.test" || c.Jti == "" || c.Exp-c.Iat != 900 {
		t.Fatalf("claims = %+v", c)
	}
	var payload map[string]any
	if err := json.Unmarshal(raw, &payload); err != nil || payload["email"] != "a@b.io" {
		t.Fatalf("raw payload = %s (%v)", raw, err)
	}
	header, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if !strings.Contains(string(header), `"alg":"EdDSA"`) || !strings.Contains(string(header), `"kid"`) {
		t.Fatalf("header = %s", header)
	}
}

func TestVerifyRefuses(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	store := &memKeys{}
	iss := newIssuer(t, store, clock)
	good, _, _ := iss.Mint(Claims{Sub: "u1", Sid: "s1"})
	parts := strings.Split(good, ".")

	forge := func(header, payload map[string]any, key ed25519.PrivateKey) string {
		h, _ := json.Marshal(header)
		p, _ := json.Marshal(payload)
		s := b64(h) + "." + b64(p)
		if key == nil {
			return s + "."
		}
		return s + "." + b64(ed25519.Sign(key, []byte(s)))
	}
	_, stranger, _ := ed25519.GenerateKey(nil)
	kid := iss.signKID
	payload := map[string]any{"sub": "u1", "sid": "s1", "iss": "http://auth.test", "aud": "mana", "exp": now.Add(time.Minute).Unix()}

	cases := map[string]struct {
		tok  string
		want error
	}{
		// Negative control for the algorithm pin: accept any alg and "none" passes.
		"alg none":             {forge(map[string]any{"alg": "none", "kid": kid}, payload, nil), ErrMalformed},
		"signed by a stranger": {forge(map[string]any{"alg": "EdDSA", "kid": kid}, payload, stranger), ErrSignature},
		"tampered payload":     {parts[0] + "." + b64([]byte(`{"sub":"admin"}`)) + "." + parts[2], ErrSignature},
		"unknown kid":          {forge(map[string]any{"alg": "EdDSA", "kid": "nope"}, payload, stranger), ErrUnknownKey},
		"garbage":              {"not-a-real-jwt.totally-garbage.signature", ErrMalformed},
		"two segments":         {"a.b", ErrMalformed},
	}
	for name, tc := range cases {
		if _, _, err := iss.Verify(context.Background(), tc.tok); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", name, err, tc.want)
		}
	}

	// Expiry has no leeway: at exp the token is dead.
	now = now.Add(TTL)
	if _, _, err := iss.Verify(context.Background(), good); !errors.Is(err, ErrExpired) {
		t.Errorf("expired: err = %v", err)
	}
}

func TestVerifyChecksIssuerAndAudience(t *testing.T) {
	store := &memKeys{}
	iss := newIssuer(t, store, nil)
	tok, _, _ := iss.Mint(Claims{Sub: "u1", Sid: "s1"})
	other := newIssuer(t, store, nil) // same keys
	other.audience = "someone-else"
	if _, _, err := other.Verify(context.Background(), tok); !errors.Is(err, ErrClaims) {
		t.Fatalf("wrong audience accepted: %v", err)
	}
}

func TestReplicasShareKeys(t *testing.T) {
	store := &memKeys{}
	a := newIssuer(t, store, nil)
	b := newIssuer(t, store, nil) // finds a's key and creates none
	if len(store.keys) != 1 {
		t.Fatalf("%d keys stored, want 1", len(store.keys))
	}
	tok, _, _ := a.Mint(Claims{Sub: "u", Sid: "s"})
	if _, _, err := b.Verify(context.Background(), tok); err != nil {
		t.Fatalf("replica b refuses a's token: %v", err)
	}
}

func TestPrivateKeySealedUnderKEK(t *testing.T) {
	store := &memKeys{}
	newIssuer(t, store, nil)
	k := store.keys[0]
	if k.KEKID == "" || strings.Contains(k.PrivateKey, "\"d\"") {
		t.Fatalf("private key not sealed: %+v", k)
	}
	// A different KEK cannot open it, so it cannot sign (it stays published).
	ring, _ := kek.NewRing([]byte(strings.Repeat("k", 32)))
	iss := &Issuer{ring: ring}
	if _, err := iss.openPrivate(k); err == nil {
		t.Fatal("opened a signing key with the wrong KEK")
	}
}

type failingKeys struct{ memKeys }

func (f *failingKeys) LoadKeys(context.Context) ([]StoredKey, error) {
	return nil, errors.New("database down")
}

// Guard: a failure to load keys is not a verdict on the token. Callers fail
// closed on it (503) instead of treating it as "invalid" or ignoring it.
// Negative control: adding a bare `err != nil` to IsRejection makes this fail.
func TestKeyLoadFailureIsNotARejection(t *testing.T) {
	store := &memKeys{}
	now := time.Now()
	iss := newIssuer(t, store, func() time.Time { return now })
	iss.store = &failingKeys{}
	now = now.Add(time.Second) // past reloadInterval: an unknown kid triggers a reload
	_, _, err := iss.Verify(context.Background(), forgeUnknownKid(t))
	if err == nil || IsRejection(err) {
		t.Fatalf("key-load failure classified as a rejection: %v", err)
	}
	if !IsRejection(ErrExpired) || !IsRejection(ErrSignature) {
		t.Fatal("token verdicts not classified as rejections")
	}
}

func forgeUnknownKid(t *testing.T) string {
	t.Helper()
	h, _ := json.Marshal(map[string]any{"alg": "EdDSA", "kid": "not-loaded-yet"})
	p, _ := json.Marshal(map[string]any{"sub": "u"})
	return b64(h) + "." + b64(p) + "." + b64(make([]byte, 64))
}

// TestStrictEncoding (audit I1): a token whose last signature character has
// its unused low bits flipped is another string for the same bytes; it is
// refused, so a token string has one form.
// Negative control: decoding with the lenient RawURLEncoding accepts it.
func TestStrictEncoding(t *testing.T) {
	iss := newIssuer(t, &memKeys{}, nil)
	tok, _, err := iss.Mint(Claims{Sub: "u1", Email: "a@b.io", Role: "user", Sid: "s1", Tier: "public"})
	if err != nil {
		t.Fatal(err)
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, tok[len(tok)-1])
	// An Ed25519 signature is 64 bytes: 86 characters, the last holding 4
	// bits and 2 unused ones.
	twin := tok[:len(tok)-1] + string(alphabet[last^1])
	if _, _, err := iss.Verify(context.Background(), twin); !errors.Is(err, ErrMalformed) {
		t.Fatalf("a re-encoded token: %v, want ErrMalformed", err)
	}
	if _, _, err := iss.Verify(context.Background(), tok); err != nil {
		t.Fatalf("the token itself: %v", err)
	}
}

// TestRotateAndRetire (audit F16): a rotated key is published at once but
// signs only after its pre-publication; retiring the old key stops it
// signing at once and withdraws it (its tokens refused) at notAfter; the
// last key that can sign cannot be retired.
// Negative control: reload ignoring NotAfter keeps the retired key
// published and fails "withdrawn".
func TestRotateAndRetire(t *testing.T) {
	var offset time.Duration
	now := func() time.Time { return time.Now().Add(offset) }
	store := &memKeys{}
	iss := newIssuer(t, store, now)
	ctx := context.Background()
	first := iss.signKID
	old, _, err := iss.Mint(Claims{Sub: "u1", Email: "a@b.io", Role: "user", Sid: "s1", Tier: "public"})
	if err != nil {
		t.Fatal(err)
	}
	if err := iss.Retire(ctx, first, now()); err == nil {
		t.Fatal("retired the last key that can sign")
	}
	next, err := iss.Rotate(ctx, now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(iss.JWKS()["keys"].([]publicJWK)) != 2 || iss.signKID != first {
		t.Fatalf("pre-published key: %d keys published, signing with %s; want 2, still %s", len(iss.JWKS()["keys"].([]publicJWK)), iss.signKID, first)
	}
	if err := iss.Retire(ctx, first, now().Add(15*time.Minute)); err == nil {
		t.Fatal("retired the signing key while the new one is not active yet")
	}
	offset = time.Hour + time.Second
	iss.RefreshKeys(ctx) // a minute has passed: every process re-reads
	if iss.signKID != next {
		t.Fatalf("after the pre-publication: signing with %s, want %s", iss.signKID, next)
	}
	if err := iss.Retire(ctx, first, now().Add(15*time.Minute)); err != nil {
		t.Fatalf("retire the old key: %v", err)
	}
	if _, _, err := iss.Verify(ctx, old); err != nil && !errors.Is(err, ErrExpired) {
		t.Fatalf("a token of the retired key before notAfter: %v", err)
	}
	offset += 16 * time.Minute
	iss.RefreshKeys(ctx)
	if n := len(iss.JWKS()["keys"].([]publicJWK)); n != 1 {
		t.Fatalf("withdrawn: %d keys published, want 1", n)
	}
	if _, _, err := iss.Verify(ctx, old); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("a token of the withdrawn key: %v, want ErrUnknownKey", err)
	}
}

// BenchmarkVerify is the token check's cryptographic and parsing part
// (Ed25519 dominates): figures, not assertions.
func BenchmarkVerify(b *testing.B) {
	iss := newIssuer(b, &memKeys{}, nil)
	tok, _, err := iss.Mint(Claims{Sub: "u1", Email: "a@b.io", Role: "user", Sid: "s1", Tier: "public"})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := iss.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}
