package storetest

import (
	"errors"
	"net/url"
	"regexp"
	"testing"
	"time"

	"github.com/mana/mana/internal/audit"
	"github.com/mana/mana/internal/auth"
)

var resetLink = regexp.MustCompile(`/api/auth/reset-password/([^?"]+)`)

// testAccountLifecycle drives every account-lifecycle Tx method through the
// service (account data, sessions list and revoke, profile, events, export,
// change and reset password, logout, resend, signup count, rate-limit audit)
// and checks what each one stored.
// Negative control: RevokeUserSessions revoking nothing keeps the second
// session alive after the password change.
func testAccountLifecycle(t *testing.T, b Backend) {
	e := newEnv(t, b, b.Store, policy)
	ctx, cancel := background()
	defer cancel()
	u, pw := e.verifiedUser(t, "lifecycle")
	first, err := e.svc.Login(ctx, u.Email, pw, auth.Client{IP: "192.0.2.7", UserAgent: "ua-1"})
	if err != nil {
		t.Fatal(err)
	}
	second, err := e.svc.Login(ctx, u.Email, pw, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.svc.Authenticate(ctx, first.AccessToken)
	if err != nil {
		t.Fatalf("authenticate: %v", err)
	}

	me, err := e.svc.MeData(ctx, p)
	if err != nil || me.Summary.SessionsCount != verifySessions+2 || me.Summary.AccountsCount != 1 || me.Summary.LastLoginAt == nil || !me.User.EmailVerified {
		t.Fatalf("account data: %+v, %v; want verification + 2 sessions, 1 account, a last login, verified", me, err)
	}
	list, err := e.svc.ListSessions(ctx, p)
	if err != nil || len(list) != verifySessions+2 || list[0].ID != second.Session.ID || !list[1].Current || list[1].IP != "192.0.2.7" || list[1].UserAgent != "ua-1" {
		t.Fatalf("sessions: %+v, %v; want the newer first and the caller's marked current with its IP and agent, then the verification's", list, err)
	}
	name, yes := "Renamed", true
	prof, err := e.svc.UpdateProfile(ctx, p, auth.ProfilePatch{Name: &name, FeedbackShowRealName: &yes}, auth.Client{})
	if err != nil || prof.Name != name || !prof.FeedbackShowRealName || prof.Image != nil {
		t.Fatalf("profile: %+v, %v; want the new name, real name shown, no image", prof, err)
	}
	events, err := e.svc.SecurityEvents(ctx, p, 0)
	if err != nil || len(events) == 0 || events[0].Type != audit.ProfileUpdated {
		t.Fatalf("security events: %d, %v; want the profile update newest", len(events), err)
	}
	export, err := e.svc.ExportData(ctx, p)
	if err != nil || len(export.Sessions) != verifySessions+2 || len(export.Events) != len(events) {
		t.Fatalf("export: %d sessions, %d events, %v; want %d and %d", len(export.Sessions), len(export.Events), err, verifySessions+2, len(events))
	}

	// Changing the password ends every other session.
	newPW := strongPassword()
	if err := e.svc.ChangePassword(ctx, p, auth.ChangePasswordInput{CurrentPassword: pw, NewPassword: newPW}, auth.Client{}); err != nil {
		t.Fatalf("change password: %v", err)
	}
	if _, err := e.svc.Authenticate(ctx, second.AccessToken); !errors.Is(err, auth.ErrSessionInvalid) {
		t.Fatalf("other session after a password change: %v, want session invalid", err)
	}
	if _, err := e.svc.Authenticate(ctx, first.AccessToken); err != nil {
		t.Fatalf("own session after a password change: %v", err)
	}

	// A reset link works once and ends every session.
	if err := e.svc.ForgotPassword(ctx, u.Email, "", auth.Client{}); err != nil {
		t.Fatalf("forgot password: %v", err)
	}
	if n := e.decideRequests(t, u.Email); n != 1 {
		t.Fatalf("forgot password recorded %d requests, want 1", n)
	}
	secret := lastLink(t, b, u.Email, resetLink)
	if err := e.svc.CheckResetToken(ctx, secret); err != nil {
		t.Fatalf("check reset link: %v", err)
	}
	resetPW := strongPassword()
	if err := e.svc.ResetPassword(ctx, secret, resetPW, auth.Client{}); err != nil {
		t.Fatalf("reset password: %v", err)
	}
	if err := e.svc.ResetPassword(ctx, secret, strongPassword(), auth.Client{}); err == nil {
		t.Fatal("a reset link worked twice")
	}
	if _, err := e.svc.Authenticate(ctx, first.AccessToken); !errors.Is(err, auth.ErrSessionInvalid) {
		t.Fatalf("session after a reset: %v, want session invalid", err)
	}
	third, err := e.svc.Login(ctx, u.Email, resetPW, auth.Client{})
	if err != nil {
		t.Fatalf("login with the reset password: %v", err)
	}

	// Logout by refresh token, then logout-all of what is left.
	fourth, err := e.svc.Login(ctx, u.Email, resetPW, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Logout(ctx, auth.LogoutInput{RefreshToken: fourth.RefreshToken}, auth.Client{}); err != nil {
		t.Fatalf("logout: %v", err)
	}
	if _, err := e.svc.Authenticate(ctx, fourth.AccessToken); !errors.Is(err, auth.ErrSessionInvalid) {
		t.Fatalf("session after logout: %v, want session invalid", err)
	}
	p3, err := e.svc.Authenticate(ctx, third.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := e.svc.LogoutAll(ctx, p3, auth.Client{}); err != nil || n != 1 {
		t.Fatalf("logout all: %d, %v; want 1 session ended", n, err)
	}

	// Resend: one more link at once, then throttled.
	pending := newEmail("resend")
	if _, err := e.svc.Register(ctx, auth.RegisterInput{Email: pending, Password: strongPassword()}, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := e.svc.ResendVerification(ctx, pending, "", auth.Client{}); err != nil {
			t.Fatalf("resend: %v", err)
		}
		if n := e.decideRequests(t, pending); n != 1 {
			t.Fatalf("resend recorded %d requests, want 1", n)
		}
	}
	if mails, err := b.Inspect.Mail(ctx, pending); err != nil || len(mails) != 2 {
		t.Fatalf("verification mails after two resends in a row: %d, %v; want 2 (the second throttled)", len(mails), err)
	}

	// The daily signup count sees today's registrations.
	limited := newEnv(t, b, b.Store, policy)
	limited.svc = auth.NewService(auth.Config{Store: b.Store, Hasher: limited.hasher, Tokens: limited.tokens, BaseURL: "http://localhost",
		Callbacks: auth.NewCallbackPolicy("http://localhost"), Lockout: policy, MaxDailySignups: 1 << 20, Log: discardLog()})
	if st, err := limited.svc.SignupStatus(ctx); err != nil || st.TotalToday < 2 {
		t.Fatalf("signup status: %+v, %v; want at least the 2 registrations of this test", st, err)
	}
	if err := e.svc.RecordRateLimited(ctx, auth.Client{IP: "192.0.2.8"}, "login", 5, time.Minute); err != nil {
		t.Fatalf("rate-limit audit: %v", err)
	}
}

// lastLink returns the secret in the newest outbox mail to to matching link.
func lastLink(t *testing.T, b Backend, to string, link *regexp.Regexp) string {
	t.Helper()
	ctx, cancel := background()
	defer cancel()
	mails, err := b.Inspect.Mail(ctx, to)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(mails) - 1; i >= 0; i-- {
		if m := link.FindStringSubmatch(mails[i]); m != nil {
			s, err := url.PathUnescape(m[1])
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	}
	t.Fatalf("no mail to %s matches %s", to, link)
	return ""
}
