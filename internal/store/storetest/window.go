package storetest

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/mana/mana/internal/audit"
	"github.com/mana/mana/internal/auth"
	"github.com/mana/mana/internal/cutover"
	"github.com/mana/mana/internal/kek"
	"github.com/mana/mana/internal/password"
	"github.com/mana/mana/internal/token"
	"github.com/mana/mana/internal/vault"
)

// RunCutover runs the rollback-window suite. newBackend must return a fresh,
// migrated database each time (finalization converts every row in it) with
// Cutover and Rotation set.
func RunCutover(t *testing.T, newBackend func(t *testing.T) Backend) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, Backend)
	}{
		{"WindowWrites", testWindowWrites},
		{"Finalize", testFinalize},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newBackend(t)) })
	}
}

// windowEnv opens the window on b and builds the services as `mana serve`
// does in it (signing keys created in the old service's format).
func windowEnv(t *testing.T, b Backend) *env {
	t.Helper()
	ctx, cancel := background()
	defer cancel()
	if err := b.Inspect.SetCutoverState(ctx, cutover.Window); err != nil {
		t.Fatal(err)
	}
	ring := b.Ring
	if ring == nil {
		var err error
		if ring, err = kek.NewRing(make([]byte, kek.KeySize)); err != nil {
			t.Fatal(err)
		}
	}
	issuer, err := token.NewIssuer(ctx, token.Config{Store: b.Keys, Ring: ring, Issuer: "http://localhost", Audience: "mana",
		BetterAuthSecret: legacySecret, LegacyKeys: true, Log: discardLog()})
	if err != nil {
		t.Fatalf("token issuer: %v", err)
	}
	c := &clock{}
	hasher := password.NewHasher(cheapHashes, 8)
	svc := auth.NewService(auth.Config{Store: b.Store, Hasher: hasher, Tokens: issuer, BaseURL: "http://localhost",
		Callbacks: auth.NewCallbackPolicy("http://localhost"), Lockout: policy, LegacySecret: legacySecret, Now: c.now, Log: discardLog()})
	b.Ring = ring
	return &env{b: b, svc: svc, vaults: vault.NewService(b.Vaults, ring), clock: c, hasher: hasher, tokens: issuer}
}

func (e *env) credential(t *testing.T, userID string) string {
	t.Helper()
	ctx, cancel := background()
	defer cancel()
	var hash string
	err := e.b.Store.InTx(ctx, func(tx auth.Tx) error {
		var err error
		hash, err = tx.CredentialHash(ctx, userID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return hash
}

func (e *env) session(t *testing.T, id string) auth.Session {
	t.Helper()
	ctx, cancel := background()
	defer cancel()
	var s auth.Session
	err := e.b.Store.InTx(ctx, func(tx auth.Tx) error {
		var err error
		s, err = tx.SessionByID(ctx, id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (e *env) vaultWrap(t *testing.T, userID string) vault.Wrapped {
	t.Helper()
	ctx, cancel := background()
	defer cancel()
	var w vault.Wrapped
	err := e.b.Vaults.InUserTx(ctx, userID, func(tx vault.Tx) error {
		r, ok, err := tx.Vault(ctx)
		if err == nil && ok && r.Server != nil {
			w = *r.Server
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// testWindowWrites: in the window every write is in a format the old
// service reads: scrypt passwords (never upgraded at login), session tokens
// as themselves, vault wraps in the old scheme, revoked sessions expired,
// signing keys sealed with BETTER_AUTH_SECRET.
// Negative control: HashFor ignoring the window gives an argon2id hash
// and fails at "registered".
func testWindowWrites(t *testing.T, b Backend) {
	e := windowEnv(t, b)
	ctx, cancel := background()
	defer cancel()
	u, pw := e.verifiedUser(t, "window")
	if h := e.credential(t, u.ID); !password.IsLegacy(h) {
		t.Fatalf("registered in the window: hash %.20q…, want Better Auth scrypt", h)
	}
	login, err := e.svc.Login(ctx, u.Email, pw, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	if login.Session.Token != login.SessionToken {
		t.Fatalf("session token stored as %q, want the token itself", login.Session.Token)
	}
	if h := e.credential(t, u.ID); !password.IsLegacy(h) {
		t.Fatal("a login in the window upgraded the hash")
	}
	next := strongPassword()
	p, err := e.svc.Authenticate(ctx, login.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.ChangePassword(ctx, p, auth.ChangePasswordInput{CurrentPassword: pw, NewPassword: next}, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	if h := e.credential(t, u.ID); !password.IsLegacy(h) {
		t.Fatal("a changed password in the window is not scrypt")
	}
	if _, err := e.vaults.Init(ctx, u.ID, vault.Client{}); err != nil {
		t.Fatal(err)
	}
	if w := e.vaultWrap(t, u.ID); w.Scheme != vault.SchemeNoAAD || w.KEKID != kek.LegacyID {
		t.Fatalf("vault in the window: scheme %d, kek %q; want the old scheme", w.Scheme, w.KEKID)
	}
	if err := e.svc.Logout(ctx, auth.LogoutInput{AccessToken: login.AccessToken}, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	if s := e.session(t, login.Session.ID); s.ExpiresAt.After(time.Now()) {
		t.Fatalf("revoked session expires at %v, want now at the latest (the old service knows no revoked_at)", s.ExpiresAt)
	}
	keys, err := b.Keys.LoadKeys(ctx)
	if err != nil || len(keys) != 1 || keys[0].KEKID != "" {
		t.Fatalf("signing keys %+v, %v; want one sealed with BETTER_AUTH_SECRET", keys, err)
	}
}

// testFinalize: finalization ends the window (audited) and moves every row
// to mana's formats while what users hold keeps working: the password
// (wrapped in argon2id, upgraded at the next sign-in), the session cookie
// token (now stored hashed), the vault key (re-wrapped, same key), the
// signing key (under the KEK, same kid). A second run finds nothing to do.
func testFinalize(t *testing.T, b Backend) {
	e := windowEnv(t, b)
	ctx, cancel := background()
	defer cancel()
	u, pw := e.verifiedUser(t, "finalize")
	login, err := e.svc.Login(ctx, u.Email, pw, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	key, err := e.vaults.Init(ctx, u.ID, vault.Client{})
	if err != nil {
		t.Fatal(err)
	}
	padding := func(when string, want bool) {
		t.Helper()
		if err := e.svc.RefreshTimingPadding(ctx); err != nil {
			t.Fatalf("%s: look for legacy rows: %v", when, err)
		}
		if on := e.hasher.LegacyFloor() > 0; on != want {
			t.Fatalf("%s: sign-in padding on = %v, want %v", when, on, want)
		}
	}
	// LegacyCredentialsRemain: scrypt and wrapped rows count, argon2id rows do not.
	// Negative control: a query that matches only unwrapped scrypt rows
	// turns padding off right after finalize.
	padding("in the window", true)
	before, err := cutover.Status(ctx, b.Cutover, b.Rotation, 100)
	if err != nil || before.State != cutover.Window || before.PasswordsScrypt != 1 || before.VaultsOld != 1 || before.KeysOldSecret != 1 ||
		before.SessionTokensClear == 0 || len(before.Reasons()) != 0 {
		t.Fatalf("status in the window: %+v %v; want rollback-safe", before, err)
	}
	opts := cutover.Options{BatchSize: 1, BetterAuthSecret: legacySecret}
	sum, err := cutover.Finalize(ctx, b.Cutover, b.Rotation, e.hasher, e.b.Ring, auth.StoredSessionToken, opts)
	if err != nil || !sum.Ended || sum.PasswordsWrapped != 1 || sum.Vaults.VaultsRewrapped != 1 || sum.KeysMoved != 1 || sum.SessionTokensHashed == 0 {
		t.Fatalf("finalize: %+v, %v", sum, err)
	}
	after, err := cutover.Status(ctx, b.Cutover, b.Rotation, 100)
	if err != nil || after.State != cutover.Finalized || after.PasswordsWrapped != 1 || after.VaultsUserBound != 1 || after.KeysKEK != 1 ||
		after.SessionTokensClear != 0 || len(after.Reasons()) == 0 {
		t.Fatalf("status after finalize: %+v %v", after, err)
	}
	if n := must(t, "events")(b.Inspect.EventsOfType(ctx, audit.CutoverFinalized)); n != 1 {
		t.Fatalf("CUTOVER_FINALIZED events = %d, want 1", n)
	}
	padding("after finalize (wrapped rows)", true)
	if got, err := e.svc.SessionByToken(ctx, login.SessionToken, false); err != nil || got.Session.ID != login.Session.ID {
		t.Fatalf("the cookie's session after finalize: %v", err)
	}
	if got, err := e.vaults.Key(ctx, u.ID, vault.Client{}); err != nil || !bytes.Equal(got.MasterKey, key.MasterKey) {
		t.Fatalf("vault key after finalize: %v", err)
	}
	if _, err := e.svc.Login(ctx, u.Email, pw, auth.Client{}); err != nil {
		t.Fatalf("login after finalize: %v", err)
	}
	if h := e.credential(t, u.ID); !strings.HasPrefix(h, "$argon2id$") {
		t.Fatalf("hash after the first sign-in past finalize: %.24q…, want argon2id", h)
	}
	padding("once every row is argon2id", false)
	again, err := cutover.Finalize(ctx, b.Cutover, b.Rotation, e.hasher, e.b.Ring, auth.StoredSessionToken, opts)
	if err != nil || again.Ended || again.PasswordsWrapped != 0 || again.Vaults.VaultsRewrapped != 0 || again.KeysMoved != 0 || again.SessionTokensHashed != 0 {
		t.Fatalf("second finalize: %+v, %v; want nothing left to do", again, err)
	}
}
