// Package jwtauth authenticates end users of mana-notify (devices,
// preferences) by their mana-auth access token: the signature is verified
// locally against mana-auth's JWKS (cached; refetched, rate-limited, when a
// token names an unknown kid), then mana-auth is asked whether the session is
// still live, because a revoked session's tokens keep valid signatures.
// Claims are never trusted before the signature is (docs/compatibility.md).
package jwtauth

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

var (
	// ErrInvalid: the token is not a valid, live access token (401).
	ErrInvalid = errors.New("invalid token")
	// ErrUnavailable: mana-auth could not be asked (503; fail closed).
	ErrUnavailable = errors.New("token check unavailable")
)

// User is the authenticated caller.
type User struct {
	ID        string
	Email     string
	Role      string
	SessionID string
}

// Verifier checks tokens. Safe for concurrent use.
type Verifier struct {
	authURL string
	client  *http.Client
	// minRefetch bounds JWKS fetches caused by unknown kids, so garbage
	// tokens cannot turn into a flood against mana-auth.
	minRefetch time.Duration
	now        func() time.Time

	mu        sync.Mutex
	keys      map[string]ed25519.PublicKey
	lastFetch time.Time
}

// New returns a Verifier for the mana-auth at authURL.
func New(authURL string, client *http.Client, minRefetch time.Duration) *Verifier {
	return &Verifier{authURL: strings.TrimRight(authURL, "/"), client: client, minRefetch: minRefetch,
		now: time.Now, keys: map[string]ed25519.PublicKey{}}
}

// Authenticate verifies tok and returns its user.
func (v *Verifier) Authenticate(ctx context.Context, tok string) (User, error) {
	claims, err := v.verifyLocal(ctx, tok)
	if err != nil {
		return User{}, err
	}
	if err := v.checkLive(ctx, tok, claims.Sub); err != nil {
		return User{}, err
	}
	return User{ID: claims.Sub, Email: claims.Email, Role: claims.Role, SessionID: claims.Sid}, nil
}

type claims struct {
	Sub   string `json:"sub"`
	Email string `json:"email"`
	Role  string `json:"role"`
	Sid   string `json:"sid"`
	Exp   int64  `json:"exp"`
	Nbf   int64  `json:"nbf"`
}

func (v *Verifier) verifyLocal(ctx context.Context, tok string) (claims, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return claims{}, ErrInvalid
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	pb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return claims{}, ErrInvalid
	}
	var header struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if json.Unmarshal(hb, &header) != nil || header.Alg != "EdDSA" || header.Kid == "" {
		return claims{}, ErrInvalid // only EdDSA: the token must not choose its algorithm
	}
	pub, err := v.key(ctx, header.Kid)
	if err != nil {
		return claims{}, err
	}
	if !ed25519.Verify(pub, []byte(parts[0]+"."+parts[1]), sig) {
		return claims{}, ErrInvalid
	}
	var c claims
	if json.Unmarshal(pb, &c) != nil || c.Sub == "" {
		return claims{}, ErrInvalid
	}
	now := v.now().Unix()
	if c.Exp == 0 || now >= c.Exp || (c.Nbf != 0 && now < c.Nbf) {
		return claims{}, ErrInvalid
	}
	return c, nil
}

// key returns the public key of kid, fetching the JWKS when kid is unknown
// and the last fetch is older than minRefetch.
func (v *Verifier) key(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if k, ok := v.keys[kid]; ok {
		return k, nil
	}
	if !v.lastFetch.IsZero() && v.now().Sub(v.lastFetch) < v.minRefetch {
		return nil, ErrInvalid
	}
	keys, err := v.fetch(ctx)
	if err != nil {
		return nil, err
	}
	v.keys, v.lastFetch = keys, v.now()
	if k, ok := v.keys[kid]; ok {
		return k, nil
	}
	return nil, ErrInvalid
}

func (v *Verifier) fetch(ctx context.Context) (map[string]ed25519.PublicKey, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.authURL+"/api/auth/jwks", nil)
	if err != nil {
		return nil, fmt.Errorf("%w: build jwks request: %v", ErrUnavailable, err)
	}
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: fetch jwks: %v", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: fetch jwks: status %d", ErrUnavailable, resp.StatusCode)
	}
	var set struct {
		Keys []struct {
			Kty, Crv, X, Kid string
		} `json:"keys"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&set); err != nil {
		return nil, fmt.Errorf("%w: decode jwks: %v", ErrUnavailable, err)
	}
	keys := map[string]ed25519.PublicKey{}
	for _, k := range set.Keys {
		if k.Kty != "OKP" || k.Crv != "Ed25519" || k.Kid == "" {
			continue
		}
		x, err := base64.RawURLEncoding.DecodeString(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			continue
		}
		keys[k.Kid] = ed25519.PublicKey(x)
	}
	return keys, nil
}

// checkLive asks mana-auth's /validate whether the session is still live.
func (v *Verifier) checkLive(ctx context.Context, tok, sub string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	body, _ := json.Marshal(map[string]string{"token": tok})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.authURL+"/api/v1/auth/validate", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: build validate request: %v", ErrUnavailable, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: validate: %v", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	// /validate answers 200 with its verdict for every token, a garbage one
	// included (contract §2.2). Any other status (a 429 or 404 from a proxy or
	// a wrong MANA_AUTH_URL) is no verdict: 503, not a 401 that tells the
	// client its session ended.
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: validate: status %d", ErrUnavailable, resp.StatusCode)
	}
	var out struct {
		Valid   bool `json:"valid"`
		Payload struct {
			Sub string `json:"sub"`
		} `json:"payload"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil {
		return fmt.Errorf("%w: decode validate answer: %v", ErrUnavailable, err)
	}
	if !out.Valid || out.Payload.Sub != sub {
		return ErrInvalid
	}
	return nil
}
