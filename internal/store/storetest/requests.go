package storetest

import (
	"testing"

	"github.com/mana/mana/internal/auth"
)

// testAccountRequestsDecidedLater: forgot-password and resend-verification
// record one request for every well-formed address, known or not, and look
// nothing up on the request path (audit F10); the worker's decision mails a
// verified user a reset link and an unverified one a verification link,
// and an unknown address nothing.
// Negative control: deciding on the request path again (ForgotPassword
// calling forgotPassword directly) fails the "no mail before the decision"
// check; recording nothing for unknown addresses fails the count.
func testAccountRequestsDecidedLater(t *testing.T, b Backend) {
	e := newEnv(t, b, b.Store, policy)
	ctx, cancel := background()
	defer cancel()
	verified, _ := e.verifiedUser(t, "request-verified")
	unverified := newEmail("request-unverified")
	if _, err := e.svc.Register(ctx, auth.RegisterInput{Email: unverified, Password: strongPassword()}, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	unknown := newEmail("request-unknown")
	mails := func(to string) int {
		t.Helper()
		m, err := b.Inspect.Mail(ctx, to)
		if err != nil {
			t.Fatal(err)
		}
		return len(m)
	}
	before := map[string]int{verified.Email: mails(verified.Email), unverified: mails(unverified), unknown: 0}
	for _, addr := range []string{verified.Email, unverified, unknown} {
		if err := e.svc.ForgotPassword(ctx, addr, "", auth.Client{IP: "192.0.2.4"}); err != nil {
			t.Fatalf("forgot %s: %v", addr, err)
		}
		if err := e.svc.ResendVerification(ctx, addr, "", auth.Client{IP: "192.0.2.4"}); err != nil {
			t.Fatalf("resend %s: %v", addr, err)
		}
		recorded, err := b.Inspect.Requests(ctx, addr)
		if err != nil {
			t.Fatal(err)
		}
		if len(recorded) != 2 {
			t.Fatalf("%s: %d requests recorded, want 2 (one per call, whatever the address)", addr, len(recorded))
		}
		if n := mails(addr); n != before[addr] {
			t.Fatalf("%s: %d mails before the worker decided, want %d", addr, n, before[addr])
		}
	}
	for _, addr := range []string{verified.Email, unverified, unknown} {
		e.decideRequests(t, addr)
	}
	if got, want := mails(verified.Email), before[verified.Email]+1; got != want {
		t.Fatalf("verified user: %d mails after the decision, want %d (the reset link only)", got, want)
	}
	if got, want := mails(unverified), before[unverified]+2; got != want {
		t.Fatalf("unverified user: %d mails after the decision, want %d (reset and verification)", got, want)
	}
	if got := mails(unknown); got != 0 {
		t.Fatalf("unknown address: %d mails, want none", got)
	}
	if err := e.svc.HandleAccountRequest(ctx, auth.AccountRequest{Kind: "made-up", Email: unknown}); err == nil {
		t.Fatal("a request of an unknown kind was accepted")
	}
}
