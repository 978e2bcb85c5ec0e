package mailcapture

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mana/mana/internal/notify/mailer"
)

func newCapture(t *testing.T, dir string, logs io.Writer) *Capture {
	t.Helper()
	c, err := New(dir, "Mana <noreply@mana.how>", slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Negative control: writing to a name without the capture time (or sorting
// ascending) fails the newest-first order; dropping the file write fails the
// read-back through a second Capture on the same directory.
func TestCaptureStoresNewestFirstAndSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	c := newCapture(t, dir, io.Discard)
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i, subj := range []string{"first", "second", "third"} {
		c.now = func() time.Time { return base.Add(time.Duration(i) * time.Second) }
		if err := c.Send(context.Background(), mailer.Email{NotificationID: "n-" + subj, To: "a@b.io", Subject: subj, HTML: "<p>x</p>"}); err != nil {
			t.Fatal(err)
		}
	}
	msgs, err := newCapture(t, dir, io.Discard).List(2)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || msgs[0].Subject != "third" || msgs[1].Subject != "second" {
		t.Fatalf("got %+v, want third, second", msgs)
	}
	if msgs[0].From != "Mana <noreply@mana.how>" {
		t.Fatalf("default sender not applied: %q", msgs[0].From)
	}
}

// Negative control: removing the verify_link attribute from Send fails this.
func TestCaptureLogsVerifyLink(t *testing.T) {
	var logs bytes.Buffer
	c := newCapture(t, t.TempDir(), &logs)
	link := "http://localhost:3001/api/auth/verify-email?token=abc&callbackURL=x"
	body := `<a href="` + strings.ReplaceAll(link, "&", "&amp;") + `">Verify</a>`
	if err := c.Send(context.Background(), mailer.Email{NotificationID: "n1", To: "a@b.io", Subject: "Verify", HTML: body}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), `verify_link="`+link+`"`) {
		t.Fatalf("verify link not logged: %s", logs.String())
	}
}

// Negative control: rendering the page with text/template instead of
// html/template (or the body with template.HTML) makes the script and the
// javascript: link appear verbatim and fails this.
func TestPageEscapesUserData(t *testing.T) {
	c := newCapture(t, t.TempDir(), io.Discard)
	evil := `<script>alert(1)</script>`
	err := c.Send(context.Background(), mailer.Email{NotificationID: "n1", To: evil + "@b.io", Subject: evil,
		HTML: `<p>` + evil + `</p><a href="javascript:alert(2)">x</a><a href='https://ok.example/a?b=1&amp;c=2'>ok</a>`})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	c.Handler(slog.New(slog.NewTextHandler(io.Discard, nil))).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/dev/mail", nil))
	page := rec.Body.String()
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	if strings.Contains(page, "<script>") || strings.Contains(page, `href="javascript:`) {
		t.Fatalf("page carries live markup from user data:\n%s", page)
	}
	if !strings.Contains(page, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Fatalf("subject not shown escaped:\n%s", page)
	}
	if !strings.Contains(page, `<a href="https://ok.example/a?b=1&amp;c=2">`) {
		t.Fatalf("http link not clickable:\n%s", page)
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Fatalf("CSP = %q", csp)
	}
}

func TestLinksKeepsOnlyHTTP(t *testing.T) {
	got := Links(`<a href="https://a.example/x">a</a><a HREF='http://b.example'>b</a><a href="data:text/html,x">c</a><a href="/rel">d</a>`)
	if len(got) != 2 || got[0] != "https://a.example/x" || got[1] != "http://b.example" {
		t.Fatalf("Links = %v", got)
	}
}
