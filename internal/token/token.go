// Package token mints and verifies the EdDSA (Ed25519) access tokens and
// publishes the JWKS. Signing keys live in auth.jwks with the private half
// sealed under the KEK ring; every replica can verify every replica's tokens.
package token

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mana/mana/internal/kek"
	"github.com/mana/mana/internal/randid"
)

// TTL is the contract's access token lifetime (15 minutes).
const TTL = 15 * time.Minute

// Claims are the access token's claims (seed contract §4.1, plus jti).
type Claims struct {
	Iat   int64  `json:"iat"`
	Sub   string `json:"sub"`
	Email string `json:"email"`
	Role  string `json:"role"`
	Sid   string `json:"sid"`
	Tier  string `json:"tier"`
	Exp   int64  `json:"exp"`
	Iss   string `json:"iss"`
	Aud   string `json:"aud"`
	Jti   string `json:"jti"`
	// AuthTime is when the user last proved who they are for this session
	// (OIDC auth_time): a sign-in with credentials or a verification link.
	AuthTime int64 `json:"auth_time,omitempty"`
}

// StoredKey is one row of auth.jwks.
type StoredKey struct {
	ID         string
	PublicKey  string // JSON of the public JWK
	PrivateKey string // sealed private key (format depends on KEKID)
	KEKID      string // empty for rows sealed with BETTER_AUTH_SECRET
	CreatedAt  time.Time
	// NotBefore: published, but it signs only from then on (rotation's
	// pre-publication). NotAfter: retired; it signs no more, and after
	// NotAfter it is withdrawn and its tokens are refused.
	NotBefore, NotAfter *time.Time
}

// KeyStore persists signing keys.
type KeyStore interface {
	LoadKeys(ctx context.Context) ([]StoredKey, error)
	InsertKey(ctx context.Context, k StoredKey) error
	// RetireKey sets the key's NotAfter unless it is retired already;
	// false when no such key is live.
	RetireKey(ctx context.Context, kid string, notAfter time.Time) (bool, error)
	// WithKeyLock runs fn while holding a lock shared by every process, so
	// replicas starting together create one signing key, not one each.
	WithKeyLock(ctx context.Context, fn func() error) error
}

// Errors of Verify; all mean "not a valid token" to callers.
var (
	ErrMalformed  = errors.New("token: malformed")
	ErrSignature  = errors.New("token: bad signature")
	ErrExpired    = errors.New("token: expired")
	ErrClaims     = errors.New("token: wrong issuer or audience")
	ErrUnknownKey = errors.New("token: unknown key id")
)

// IsRejection reports whether err means "this token is not valid", as opposed
// to a failure to check it (the signing keys could not be loaded).
func IsRejection(err error) bool {
	return errors.Is(err, ErrMalformed) || errors.Is(err, ErrSignature) || errors.Is(err, ErrExpired) ||
		errors.Is(err, ErrClaims) || errors.Is(err, ErrUnknownKey)
}

type publicJWK struct {
	Alg string `json:"alg,omitempty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kty string `json:"kty"`
	Kid string `json:"kid,omitempty"`
}

// Issuer signs and verifies tokens.
type Issuer struct {
	store  KeyStore
	ring   *kek.Ring
	legacy []byte // SHA-256 of BETTER_AUTH_SECRET, to open keys sealed with it; may be nil
	// legacyKeys: new keys are sealed as the old service did (rollback window).
	legacyKeys bool
	issuer     string
	audience   string
	now        func() time.Time
	log        *slog.Logger

	mu         sync.RWMutex
	signKID    string
	signKey    ed25519.PrivateKey
	public     map[string]ed25519.PublicKey
	order      []string // kids, oldest first, for JWKS
	lastReload time.Time
	// refreshing is held by the one caller re-reading stale keys; the
	// others go on with the keys loaded (no burst of reloads each minute).
	refreshing atomic.Bool
}

// Config configures an Issuer.
type Config struct {
	Store    KeyStore
	Ring     *kek.Ring
	Issuer   string
	Audience string
	// BetterAuthSecret, when set, opens signing keys sealed with it.
	BetterAuthSecret string
	// LegacyKeys creates a missing signing key in the old service's format
	// (sealed with BetterAuthSecret), for a cut-over's rollback window.
	LegacyKeys bool
	Log        *slog.Logger
	Now        func() time.Time
}

// NewIssuer loads the keys and makes sure one can sign, creating it if needed.
func NewIssuer(ctx context.Context, c Config) (*Issuer, error) {
	iss := &Issuer{store: c.Store, ring: c.Ring, issuer: c.Issuer, audience: c.Audience, now: c.Now, log: c.Log,
		legacyKeys: c.LegacyKeys}
	if iss.now == nil {
		iss.now = time.Now
	}
	if c.BetterAuthSecret != "" {
		iss.legacy = legacyKey(c.BetterAuthSecret)
	}
	err := c.Store.WithKeyLock(ctx, func() error {
		if err := iss.reload(ctx); err != nil {
			return err
		}
		if iss.signKey == nil {
			return iss.createKey(ctx)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return iss, nil
}

func (i *Issuer) createKey(ctx context.Context) error {
	_, err := i.newKey(ctx, nil)
	return err
}

// newKey generates, seals and stores a key (signing from notBefore when
// set) and reloads; the caller holds the key lock.
func (i *Issuer) newKey(ctx context.Context, notBefore *time.Time) (string, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", fmt.Errorf("token: generate signing key: %w", err)
	}
	id := randid.ID(32)
	pubJSON, err := json.Marshal(publicJWK{Crv: "Ed25519", X: b64(pub), Kty: "OKP"})
	if err != nil {
		return "", fmt.Errorf("token: encode public key: %w", err)
	}
	var k StoredKey
	if i.legacyKeys {
		sealed, err := sealLegacyPrivate(i.legacy, priv)
		if err != nil {
			return "", fmt.Errorf("token: seal a signing key for the rollback window: %w", err)
		}
		k = StoredKey{ID: id, PublicKey: string(pubJSON), PrivateKey: sealed}
	} else {
		sealed, kekID := i.ring.Seal(priv.Seed(), sealAAD(id))
		k = StoredKey{ID: id, PublicKey: string(pubJSON), PrivateKey: base64.StdEncoding.EncodeToString(sealed), KEKID: kekID}
	}
	k.NotBefore = notBefore
	if err := i.store.InsertKey(ctx, k); err != nil {
		return "", fmt.Errorf("token: store signing key: %w", err)
	}
	i.log.Info("created a JWT signing key", "kid", id, "kek_id", k.KEKID, "old_service_format", i.legacyKeys)
	return id, i.reload(ctx)
}

// reload reads every key: all are published and accepted; the newest one
// whose private half we can open signs.
func (i *Issuer) reload(ctx context.Context) error {
	keys, err := i.store.LoadKeys(ctx)
	if err != nil {
		return fmt.Errorf("token: load signing keys: %w", err)
	}
	public := make(map[string]ed25519.PublicKey, len(keys))
	order := make([]string, 0, len(keys))
	var signKID string
	var signKey ed25519.PrivateKey
	var signAt time.Time
	now := i.now()
	for _, k := range keys {
		if k.NotAfter != nil && !now.Before(*k.NotAfter) {
			continue // withdrawn: not published, its tokens refused
		}
		var jwk publicJWK
		if err := json.Unmarshal([]byte(k.PublicKey), &jwk); err != nil || jwk.Crv != "Ed25519" {
			i.log.Error("skipping a signing key with an unreadable public key", "kid", k.ID, "err", err)
			continue
		}
		x, err := base64.RawURLEncoding.DecodeString(jwk.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			i.log.Error("skipping a signing key with a malformed public key", "kid", k.ID, "err", err)
			continue
		}
		public[k.ID] = ed25519.PublicKey(x)
		order = append(order, k.ID)
		priv, err := i.openPrivate(k)
		if err != nil {
			// Published for verification still; it just cannot sign here.
			i.log.Warn("signing key cannot be opened with the configured secrets; it stays published for verification", "kid", k.ID, "kek_id", k.KEKID, "err", err)
			continue
		}
		// A retired key signs no more; a pre-published one not yet.
		canSign := k.NotAfter == nil && (k.NotBefore == nil || !now.Before(*k.NotBefore))
		if canSign && (signKey == nil || k.CreatedAt.After(signAt)) {
			signKID, signKey, signAt = k.ID, priv, k.CreatedAt
		}
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.public, i.order, i.lastReload = public, order, now
	if signKey == nil && len(keys) > 0 && i.signKey != nil {
		i.log.Error("no signing key can sign any more (all retired or not yet active): logins will fail until one can")
	}
	i.signKID, i.signKey = signKID, signKey
	return nil
}

// keyRefresh is how often every process re-reads auth.jwks on its own, so
// a rotation or retirement done elsewhere (another replica, `mana jwks`)
// takes effect everywhere within this time.
const keyRefresh = time.Minute

// RefreshKeys re-reads the keys when they are older than a minute (before
// minting: a key retired elsewhere must stop signing here too).
func (i *Issuer) RefreshKeys(ctx context.Context) { i.refreshKeys(ctx) }

// refreshKeys re-reads the keys when the last read is older than
// keyRefresh; a failure keeps the keys it has (and is logged).
func (i *Issuer) refreshKeys(ctx context.Context) {
	i.mu.RLock()
	stale := i.now().Sub(i.lastReload) >= keyRefresh
	i.mu.RUnlock()
	if !stale || !i.refreshing.CompareAndSwap(false, true) {
		return
	}
	defer i.refreshing.Store(false)
	if err := i.reload(ctx); err != nil {
		i.log.Error("re-reading the signing keys failed; keeping the ones loaded", "err", err)
	}
}

// Rotate adds a new signing key, published at once and signing from
// notBefore on (pre-publication: consumers that cache the JWKS learn it
// before the first token it signs). `mana jwks rotate`.
func (i *Issuer) Rotate(ctx context.Context, notBefore time.Time) (string, error) {
	var kid string
	err := i.store.WithKeyLock(ctx, func() error {
		var err error
		kid, err = i.newKey(ctx, &notBefore)
		return err
	})
	return kid, err
}

// Retire stops kid signing at once and withdraws it (its tokens refused)
// at notAfter. The last key that can sign is not retired: rotate first.
// `mana jwks retire`.
func (i *Issuer) Retire(ctx context.Context, kid string, notAfter time.Time) error {
	return i.store.WithKeyLock(ctx, func() error {
		keys, err := i.store.LoadKeys(ctx)
		if err != nil {
			return fmt.Errorf("token: load signing keys: %w", err)
		}
		found, others := false, 0
		for _, k := range keys {
			if k.NotAfter != nil {
				continue
			}
			if k.ID == kid {
				found = true
				continue
			}
			if _, err := i.openPrivate(k); err == nil && (k.NotBefore == nil || !i.now().Before(*k.NotBefore)) {
				others++
			}
		}
		if !found {
			return fmt.Errorf("token: no live signing key %q", kid)
		}
		if others == 0 {
			return fmt.Errorf("token: %s is the last key that can sign now: run `mana jwks rotate` (and wait for its pre-publication) first", kid)
		}
		ok, err := i.store.RetireKey(ctx, kid, notAfter)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("token: %s was retired meanwhile", kid)
		}
		return i.reload(ctx)
	})
}

func (i *Issuer) openPrivate(k StoredKey) (ed25519.PrivateKey, error) {
	if k.KEKID == "" {
		return openLegacyPrivate(i.legacy, k.PrivateKey)
	}
	sealed, err := base64.StdEncoding.DecodeString(k.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("decode sealed key: %w", err)
	}
	seed, err := i.ring.Open(k.KEKID, sealed, sealAAD(k.ID))
	if err != nil {
		return nil, err
	}
	if len(seed) != ed25519.SeedSize {
		return nil, errors.New("sealed key has the wrong length")
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// Mint signs claims for a session. Issuer, audience, times and jti are set here.
func (i *Issuer) Mint(c Claims) (string, Claims, error) {
	i.mu.RLock()
	kid, key := i.signKID, i.signKey
	i.mu.RUnlock()
	if key == nil {
		return "", Claims{}, errors.New("token: no signing key")
	}
	now := i.now()
	// A caller's earlier expiry (the session's end) wins over the TTL: a
	// token never outlives its session.
	exp := now.Add(TTL).Unix()
	if c.Exp == 0 || c.Exp > exp {
		c.Exp = exp
	}
	c.Iat = now.Unix()
	c.Iss, c.Aud, c.Jti = i.issuer, i.audience, randid.ID(24)
	header, err := json.Marshal(map[string]string{"alg": "EdDSA", "kid": kid})
	if err != nil {
		return "", Claims{}, fmt.Errorf("token: encode header: %w", err)
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", Claims{}, fmt.Errorf("token: encode claims: %w", err)
	}
	signing := b64(header) + "." + b64(payload)
	return signing + "." + b64(ed25519.Sign(key, []byte(signing))), c, nil
}

// reloadInterval bounds how often an unknown kid makes us re-read auth.jwks,
// so garbage tokens cannot turn into a database flood (at most a few cheap
// reads a second), while a key another replica just created is found at once.
const reloadInterval = 200 * time.Millisecond

// Verify checks signature, issuer, audience and expiry (no leeway). It
// returns the claims and the raw payload (every claim, for /validate).
func (i *Issuer) Verify(ctx context.Context, tok string) (Claims, json.RawMessage, error) {
	return i.verify(ctx, tok, false)
}

// VerifyIgnoringExpiry checks everything Verify does but the expiry: the
// token is authentic, so its session id may be trusted to end that session
// (logout long after the last refresh). Never use it to admit a request.
func (i *Issuer) VerifyIgnoringExpiry(ctx context.Context, tok string) (Claims, error) {
	c, _, err := i.verify(ctx, tok, true)
	return c, err
}

func (i *Issuer) verify(ctx context.Context, tok string, ignoreExpiry bool) (Claims, json.RawMessage, error) {
	i.refreshKeys(ctx)
	// header.payload.signature: exactly two dots.
	first, last := strings.IndexByte(tok, '.'), strings.LastIndexByte(tok, '.')
	if first < 0 || first == last || strings.IndexByte(tok[first+1:last], '.') >= 0 {
		return Claims{}, nil, ErrMalformed
	}
	signed := tok[:last]
	// Strict: a token has one encoding, so its string is not malleable
	// (unused low bits of the last character must be zero; audit I1, JWT-14).
	strict := base64.RawURLEncoding.Strict()
	hb, err1 := strict.DecodeString(tok[:first])
	pb, err2 := strict.DecodeString(tok[first+1 : last])
	sig, err3 := strict.DecodeString(tok[last+1:])
	if err1 != nil || err2 != nil || err3 != nil {
		return Claims{}, nil, ErrMalformed
	}
	var header struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(hb, &header); err != nil {
		return Claims{}, nil, ErrMalformed
	}
	// Only EdDSA: an attacker must not pick the algorithm ("none", HS256 with the public key).
	if header.Alg != "EdDSA" || header.Kid == "" {
		return Claims{}, nil, ErrMalformed
	}
	pub, err := i.publicKey(ctx, header.Kid)
	if err != nil {
		return Claims{}, nil, err
	}
	if !ed25519.Verify(pub, []byte(signed), sig) {
		return Claims{}, nil, ErrSignature
	}
	// One decode: the payload as signed goes back to /validate as it is.
	var c Claims
	if err := json.Unmarshal(pb, &c); err != nil {
		return Claims{}, nil, ErrMalformed
	}
	if c.Iss != i.issuer || c.Aud != i.audience || c.Sub == "" {
		return Claims{}, nil, ErrClaims
	}
	if !ignoreExpiry && i.now().Unix() >= c.Exp {
		return Claims{}, nil, ErrExpired
	}
	return c, pb, nil
}

func (i *Issuer) publicKey(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	i.mu.RLock()
	pub, ok := i.public[kid]
	stale := i.now().Sub(i.lastReload) >= reloadInterval
	i.mu.RUnlock()
	if ok {
		return pub, nil
	}
	if !stale {
		return nil, ErrUnknownKey
	}
	// Another replica may have created a key since we last looked.
	if err := i.reload(ctx); err != nil {
		return nil, err
	}
	i.mu.RLock()
	defer i.mu.RUnlock()
	if pub, ok := i.public[kid]; ok {
		return pub, nil
	}
	return nil, ErrUnknownKey
}

// JWKS returns the published key set (seed contract §4.3).
func (i *Issuer) JWKS() map[string]any {
	i.mu.RLock()
	defer i.mu.RUnlock()
	keys := make([]publicJWK, 0, len(i.order))
	for _, kid := range i.order {
		keys = append(keys, publicJWK{Alg: "EdDSA", Crv: "Ed25519", X: b64(i.public[kid]), Kty: "OKP", Kid: kid})
	}
	return map[string]any{"keys": keys}
}
