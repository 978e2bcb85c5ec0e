package storetest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mana/mana/internal/audit"
	"github.com/mana/mana/internal/auth"
	"github.com/mana/mana/internal/randid"
)

// legacySecret is the BETTER_AUTH_SECRET of the suite's service: the old
// service's verification links are signed with it.
const legacySecret = "conformance-better-auth-secret"

// legacySession writes a session row as the old service did: the session
// token itself in the token column. It returns the token.
func (e *env) legacySession(t *testing.T, userID string, expires time.Time) string {
	t.Helper()
	ctx, cancel := background()
	defer cancel()
	tok := randid.UserID() // 32 characters of [A-Za-z0-9], as Better Auth's
	now := time.Now().UTC()
	err := e.b.Store.InTx(ctx, func(tx auth.Tx) error {
		return tx.InsertSession(ctx, auth.Session{ID: randid.UserID(), Token: tok, UserID: userID, ExpiresAt: expires,
			CreatedAt: now, UpdatedAt: now})
	})
	if err != nil {
		t.Fatalf("seed legacy session: %v", err)
	}
	return tok
}

// testBrowserSessions: a session token finds its session by the stored form
// (a hash for sessions this service writes, the token for the old
// service's rows), slides an old expiry, and refuses revoked ones.
// Negative control: dropping the ":" guard in sessionTokenForms lets the
// stored hash itself open the session (the "stored form as a token" case).
func testBrowserSessions(t *testing.T, b Backend) {
	e := newEnv(t, b, b.Store, policy)
	u, pw := e.verifiedUser(t, "browser")
	ctx, cancel := background()
	defer cancel()

	login, err := e.svc.SignIn(ctx, auth.SignInInput{Email: u.Email, Password: pw, Endpoint: "/sign-in/email"}, auth.Client{})
	if err != nil {
		t.Fatalf("sign in: %v", err)
	}
	if login.Session.Token == login.SessionToken || !strings.HasPrefix(login.Session.Token, "sha256:") {
		t.Fatalf("stored session token %q: want only its hash", login.Session.Token)
	}
	got, err := e.svc.SessionByToken(ctx, login.SessionToken, true)
	if err != nil || got.Session.ID != login.Session.ID || got.User.ID != u.ID || got.Extended {
		t.Fatalf("session by token: %+v, %v", got, err)
	}
	if _, err := e.svc.SessionByToken(ctx, login.Session.Token, false); !errors.Is(err, auth.ErrSessionInvalid) {
		t.Fatalf("stored form as a token: %v, want ErrSessionInvalid", err)
	}

	// An old-service row, last extended over a day ago: found by the token
	// itself, and extended to a full week.
	legacy := e.legacySession(t, u.ID, time.Now().Add(auth.SessionTTL-25*time.Hour))
	got, err = e.svc.SessionByToken(ctx, legacy, true)
	if err != nil || !got.Extended || got.Session.ExpiresAt.Before(time.Now().Add(auth.SessionTTL-time.Minute)) {
		t.Fatalf("legacy session: %+v, %v; want it found and extended", got, err)
	}
	again, err := e.svc.SessionByToken(ctx, legacy, true)
	// Within a millisecond: PostgreSQL keeps microseconds.
	if err != nil || again.Extended || again.Session.ExpiresAt.Sub(got.Session.ExpiresAt).Abs() > time.Millisecond {
		t.Fatalf("legacy session read again: %+v, %v; want it unchanged", again, err)
	}
	if err := e.svc.EndSession(ctx, again.SessionView, auth.Client{}); err != nil {
		t.Fatalf("end session: %v", err)
	}
	if _, err := e.svc.SessionByToken(ctx, legacy, true); !errors.Is(err, auth.ErrSessionInvalid) {
		t.Fatalf("ended session: %v, want ErrSessionInvalid", err)
	}
	expired := e.legacySession(t, u.ID, time.Now().Add(-time.Minute))
	if _, err := e.svc.SessionByToken(ctx, expired, true); !errors.Is(err, auth.ErrSessionInvalid) {
		t.Fatalf("expired session: %v, want ErrSessionInvalid", err)
	}
}

// testLegacyRefresh: the old service's session token, held by its clients
// as refreshToken, is accepted once and joins the token family; a second
// presentation is reuse and revokes the session. Of parallel presentations
// exactly one wins.
// Negative control: ClaimRefreshToken inserting without ON CONFLICT makes
// the parallel case fail with store errors instead of refusals.
func testLegacyRefresh(t *testing.T, b Backend) {
	e := newEnv(t, b, b.Store, policy)
	u, _ := e.verifiedUser(t, "legacy-refresh")
	ctx, cancel := background()
	defer cancel()

	tok := e.legacySession(t, u.ID, time.Now().Add(auth.SessionTTL))
	first, err := e.svc.Refresh(ctx, tok, auth.Client{})
	if err != nil || first.RefreshToken == "" || first.Claims.Sub != u.ID {
		t.Fatalf("first legacy refresh: %+v, %v", first, err)
	}
	second, err := e.svc.Refresh(ctx, first.RefreshToken, auth.Client{})
	if err != nil {
		t.Fatalf("rotated token: %v", err)
	}
	if _, err := e.svc.Refresh(ctx, tok, auth.Client{}); !errors.Is(err, auth.ErrSessionInvalid) {
		t.Fatalf("legacy token again: %v, want ErrSessionInvalid", err)
	}
	if _, err := e.svc.Refresh(ctx, second.RefreshToken, auth.Client{}); !errors.Is(err, auth.ErrSessionInvalid) {
		t.Fatalf("family after reuse: %v, want it revoked", err)
	}
	if n := must(t, "events")(e.b.Inspect.Events(ctx, u.ID, u.Email, audit.TokenReuseDetected)); n != 1 {
		t.Fatalf("TOKEN_REUSE_DETECTED = %d, want 1", n)
	}

	race := e.legacySession(t, u.ID, time.Now().Add(auth.SessionTTL))
	ok, refused, other := refreshRace(8, func() error {
		_, err := e.svc.Refresh(ctx, race, auth.Client{})
		return err
	})
	if ok != 1 || refused != 7 {
		t.Fatalf("8 parallel legacy refreshes: %d accepted, %d refused, %d failed; want 1, 7, 0", ok, refused, other)
	}
}

// signLegacyLink is a verification link of the old service (contract §9.1):
// compact HS256 JWS over BETTER_AUTH_SECRET, payload {email, iat, exp}.
func signLegacyLink(secret, email string, exp time.Time) string {
	enc := base64.RawURLEncoding
	header := enc.EncodeToString([]byte(`{"alg":"HS256"}`))
	payload, _ := json.Marshal(map[string]any{"email": email, "iat": exp.Add(-time.Hour).Unix(), "exp": exp.Unix()})
	signing := header + "." + enc.EncodeToString(payload)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(signing))
	return signing + "." + enc.EncodeToString(mac.Sum(nil))
}

// testLegacyLinks: links the old service mailed keep working for their
// lifetime, once: its verification JWTs and its reset rows.
// Negative controls: a wrong secret gives ErrTokenInvalid (the "forged"
// case); without ClaimLinkToken the second use succeeds.
func testLegacyLinks(t *testing.T, b Backend) {
	e := newEnv(t, b, b.Store, policy)
	ctx, cancel := background()
	defer cancel()

	email := newEmail("legacy-link")
	if _, err := e.svc.Register(ctx, auth.RegisterInput{Email: email, Password: strongPassword()}, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		link string
		want error
	}{
		"forged":  {signLegacyLink("another secret", email, time.Now().Add(time.Hour)), auth.ErrTokenInvalid},
		"expired": {signLegacyLink(legacySecret, email, time.Now().Add(-time.Minute)), auth.ErrTokenExpired},
		"unknown": {signLegacyLink(legacySecret, newEmail("nobody"), time.Now().Add(time.Hour)), auth.ErrUserNotFound},
	} {
		if _, err := e.svc.VerifyEmail(ctx, c.link, auth.Client{}); !errors.Is(err, c.want) {
			t.Fatalf("%s link: %v, want %v", name, err, c.want)
		}
	}
	link := signLegacyLink(legacySecret, email, time.Now().Add(time.Hour))
	v, err := e.svc.VerifyEmail(ctx, link, auth.Client{})
	if err != nil || v.Session == nil {
		t.Fatalf("legacy link: %+v, %v; want verified and signed in", v, err)
	}
	if _, err := e.svc.VerifyEmail(ctx, link, auth.Client{}); !errors.Is(err, auth.ErrTokenInvalid) {
		t.Fatalf("legacy link again: %v, want ErrTokenInvalid (single use)", err)
	}

	u, _ := e.verifiedUser(t, "legacy-reset")
	reset := randid.ID(24)
	if err := e.b.Inspect.SeedLegacyReset(ctx, reset, u.ID, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.CheckResetToken(ctx, reset); err != nil {
		t.Fatalf("check legacy reset: %v", err)
	}
	pw := strongPassword()
	if err := e.svc.ResetPassword(ctx, reset, pw, auth.Client{}); err != nil {
		t.Fatalf("legacy reset: %v", err)
	}
	if _, err := e.svc.Login(ctx, u.Email, pw, auth.Client{}); err != nil {
		t.Fatalf("login with the new password: %v", err)
	}
	if err := e.svc.ResetPassword(ctx, reset, strongPassword(), auth.Client{}); !errors.Is(err, auth.ErrTokenInvalid) {
		t.Fatalf("legacy reset again: %v, want ErrTokenInvalid", err)
	}
	stale := randid.ID(24)
	if err := e.b.Inspect.SeedLegacyReset(ctx, stale, u.ID, time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.CheckResetToken(ctx, stale); !errors.Is(err, auth.ErrTokenExpired) {
		t.Fatalf("expired legacy reset: %v, want ErrTokenExpired", err)
	}
}

// testPersonalSpace: sign-up creates the personal Space and its owner row
// in the registration's transaction; slugs follow the old service's rules
// (reserved and taken ones get -2, -3, ...); a taken slug is ErrConflict.
func testPersonalSpace(t *testing.T, b Backend) {
	e := newEnv(t, b, b.Store, policy)
	ctx, cancel := background()
	defer cancel()
	spaces := func(userID string) []auth.Space {
		t.Helper()
		var out []auth.Space
		err := e.b.Store.InTx(ctx, func(tx auth.Tx) error {
			var err error
			out, err = tx.UserSpaces(ctx, userID)
			return err
		})
		if err != nil {
			t.Fatalf("user spaces: %v", err)
		}
		return out
	}
	local := "Space.Owner+" + strings.ToLower(randid.ID(6))
	want := strings.NewReplacer(".", "-", "+", "-").Replace(strings.ToLower(local))
	var first auth.User
	for i, wantSlug := range []string{want, want + "-2"} {
		u, err := e.svc.Register(ctx, auth.RegisterInput{Email: local + "@" + strings.ToLower(randid.ID(5)) + ".example", Password: strongPassword(),
			Name: " Ada "}, auth.Client{})
		if err != nil {
			t.Fatal(err)
		}
		got := spaces(u.ID)
		if len(got) != 1 || got[0].Slug != wantSlug || got[0].Role != "owner" || got[0].Name != "Ada" ||
			got[0].Metadata["type"] != "personal" || got[0].Metadata["tier"] != "public" {
			t.Fatalf("user %d: spaces %+v; want one personal Space %q owned, named Ada", i, got, wantSlug)
		}
		if i == 0 {
			first = u
		}
	}
	err := e.b.Store.InTx(ctx, func(tx auth.Tx) error {
		has, err := tx.HasPersonalSpace(ctx, first.ID)
		if err != nil || !has {
			t.Errorf("has personal space: %v, %v", has, err)
		}
		taken, err := tx.SlugTaken(ctx, want)
		if err != nil || !taken {
			t.Errorf("slug taken: %v, %v", taken, err)
		}
		err = tx.InsertSpace(ctx, auth.Space{ID: randid.ID(21), Name: "x", Slug: want, MemberID: randid.ID(21), UserID: first.ID,
			Role: "owner", CreatedAt: time.Now(), Metadata: map[string]any{"type": "team"}})
		if !errors.Is(err, auth.ErrConflict) {
			t.Errorf("insert a taken slug: %v, want ErrConflict", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A reserved local part never becomes a slug as it is.
	u, err := e.svc.Register(ctx, auth.RegisterInput{Email: "admin@" + strings.ToLower(randid.ID(8)) + ".example", Password: strongPassword()}, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	if got := spaces(u.ID); len(got) != 1 || got[0].Slug == "admin" || !strings.HasPrefix(got[0].Slug, "admin-") {
		t.Fatalf("reserved slug: %+v", got)
	}
}
