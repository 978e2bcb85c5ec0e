package authapi_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
)

// clientAddr is the socket address of every test request (no proxy is
// trusted, so it is the client IP the rate limits count).
const clientAddr = "192.0.2.10:4711"

// req describes one request. body is sent as is when it is a string or
// []byte, else encoded as JSON; nil sends no body.
type req struct {
	method, path string
	body         any
	bearer       string
	header       http.Header
	cookies      []*http.Cookie
	remoteAddr   string
}

// resp is a recorded answer with its JSON body decoded (JSON is nil when the
// body is not JSON).
type resp struct {
	Status int
	Header http.Header
	Body   string
	JSON   any
}

func (r resp) String() string { return fmt.Sprintf("%d %s", r.Status, strings.TrimSpace(r.Body)) }

// obj returns the body as a JSON object (nil when it is none).
func (r resp) obj() map[string]any {
	m, _ := r.JSON.(map[string]any)
	return m
}

// str returns a string field of the body object.
func (r resp) str(key string) string {
	s, _ := r.obj()[key].(string)
	return s
}

// do serves one request in process.
func (s *testServer) do(t *testing.T, q req) resp {
	t.Helper()
	var body io.Reader
	switch b := q.body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	case []byte:
		body = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("encode body: %v", err)
		}
		body = bytes.NewReader(data)
	}
	r := httptest.NewRequest(q.method, q.path, body)
	r.RemoteAddr = clientAddr
	if q.remoteAddr != "" {
		r.RemoteAddr = q.remoteAddr
	}
	if body != nil && q.header.Get("Content-Type") == "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for k, vs := range q.header {
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
	if q.bearer != "" {
		r.Header.Set("Authorization", "Bearer "+q.bearer)
	}
	for _, c := range q.cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	s.handler.ServeHTTP(w, r)
	out := resp{Status: w.Code, Header: w.Result().Header, Body: w.Body.String()}
	if strings.HasPrefix(out.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(w.Body.Bytes(), &out.JSON); err != nil {
			t.Fatalf("%s %s: Content-Type is JSON but the body is not: %v: %q", q.method, q.path, err, out.Body)
		}
	}
	return out
}

// wantJSON fails unless the answer has the status and a JSON body with
// Content-Type application/json.
func wantJSON(t *testing.T, what string, r resp, status int) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: status %d, want %d: %s", what, r.Status, status, r)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s: Content-Type %q, want application/json: %s", what, ct, r)
	}
}

// wantError fails unless the answer is the error envelope (DESIGN §5.1):
// status, code, a non-empty error and message, and "status" equal to the
// HTTP status.
func wantError(t *testing.T, what string, r resp, status int, code string) {
	t.Helper()
	wantJSON(t, what, r, status)
	if got := r.str("code"); got != code {
		t.Fatalf("%s: code %q, want %q: %s", what, got, code, r)
	}
	if r.str("error") == "" || r.str("message") == "" {
		t.Fatalf("%s: envelope without error or message: %s", what, r)
	}
	if n, _ := r.obj()["status"].(float64); int(n) != status {
		t.Fatalf("%s: envelope status %v, want %d: %s", what, r.obj()["status"], status, r)
	}
}

// wantUnauthorized fails unless the answer is requireBearer's 401
// (statusCode + code UNAUTHORIZED + message).
func wantUnauthorized(t *testing.T, what string, r resp) {
	t.Helper()
	wantJSON(t, what, r, http.StatusUnauthorized)
	if r.str("code") != "UNAUTHORIZED" || r.str("message") == "" {
		t.Fatalf("%s: want code UNAUTHORIZED with a message: %s", what, r)
	}
	if n, _ := r.obj()["statusCode"].(float64); n != 401 {
		t.Fatalf("%s: statusCode %v, want 401: %s", what, r.obj()["statusCode"], r)
	}
}

var emailSeq atomic.Int64

// newEmail is a unique address per call.
func newEmail(name string) string {
	return fmt.Sprintf("%s-%d@example.com", name, emailSeq.Add(1))
}

// strongPassword passes the policy (length, not common, not the email).
const strongPassword = "Handler-Test-Passw0rd-1"

var hrefRE = regexp.MustCompile(`href="([^"]+)"`)

// mailLink returns the path and query of the first link in a mail, as the
// handler sees it (the mails link to BaseURL).
func mailLink(t *testing.T, htmlBody string) string {
	t.Helper()
	m := hrefRE.FindStringSubmatch(htmlBody)
	if m == nil {
		t.Fatalf("no link in the mail: %s", htmlBody)
	}
	u, err := url.Parse(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatalf("link %q: %v", m[1], err)
	}
	return u.RequestURI()
}

// register registers through the API and returns the user id and the path
// of the verification link from the outbox.
func (s *testServer) register(t *testing.T, email string, extra map[string]any) (userID, verifyPath string) {
	t.Helper()
	body := map[string]any{"email": email, "password": strongPassword}
	for k, v := range extra {
		body[k] = v
	}
	r := s.do(t, req{method: "POST", path: "/api/v1/auth/register", body: body})
	wantJSON(t, "register "+email, r, http.StatusOK)
	user, _ := r.obj()["user"].(map[string]any)
	userID, _ = user["id"].(string)
	if userID == "" || user["emailVerified"] != false {
		t.Fatalf("register %s: want an unverified user: %s", email, r)
	}
	mails := s.mail.to(t, email)
	if len(mails) == 0 {
		t.Fatalf("register %s: no verification mail in the outbox", email)
	}
	return userID, mailLink(t, mails[len(mails)-1])
}

// verifiedUser registers and follows the verification link.
func (s *testServer) verifiedUser(t *testing.T, name string) (userID, email string) {
	t.Helper()
	email = newEmail(name)
	userID, link := s.register(t, email, nil)
	r := s.do(t, req{method: "GET", path: link})
	if r.Status != http.StatusFound || strings.Contains(r.Header.Get("Location"), "error=") {
		t.Fatalf("verify %s: want a 302 without error: %s (Location %q)", email, r, r.Header.Get("Location"))
	}
	return userID, email
}

// verifySessions is the session following the verification link signs
// the user in with.
const verifySessions = 1

// session is a logged-in user.
type session struct {
	userID, email, access, refresh string
}

// login signs in and returns the tokens.
func (s *testServer) login(t *testing.T, userID, email string) session {
	t.Helper()
	r := s.do(t, req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": email, "password": strongPassword}})
	wantJSON(t, "login "+email, r, http.StatusOK)
	out := session{userID: userID, email: email, access: r.str("accessToken"), refresh: r.str("refreshToken")}
	if out.access == "" || out.refresh == "" {
		t.Fatalf("login %s: no tokens: %s", email, r)
	}
	return out
}

// loggedIn is a verified user with a fresh session.
func (s *testServer) loggedIn(t *testing.T, name string) session {
	t.Helper()
	id, email := s.verifiedUser(t, name)
	return s.login(t, id, email)
}

// count runs a SELECT count(*) on the test database.
func (s *testServer) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := s.db.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// signCookie is a session cookie value as the old service (Better Auth)
// signs it, written here from the contract (§2.7), not from the server's
// code: "<token>.<base64 HMAC-SHA256(secret, token)>", URL-encoded.
func signCookie(token string) string {
	mac := hmac.New(sha256.New, []byte(testSecret))
	mac.Write([]byte(token))
	return url.QueryEscape(token + "." + base64.StdEncoding.EncodeToString(mac.Sum(nil)))
}

// browser is a user signed in through the browser door, holding its cookie.
type browser struct {
	userID, email, token string
	cookie               *http.Cookie
}

// fromApp is the header of a request a trusted app origin sends.
func fromApp() http.Header { return http.Header{"Origin": {allowedOrigin}} }

// signIn signs in through POST /api/auth/sign-in/email and keeps the cookie.
func (s *testServer) signIn(t *testing.T, userID, email string) browser {
	t.Helper()
	r := s.do(t, req{method: "POST", path: "/api/auth/sign-in/email", header: fromApp(),
		body: map[string]any{"email": email, "password": strongPassword}})
	wantJSON(t, "sign-in "+email, r, http.StatusOK)
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if c.Name == plainCookie || c.Name == secureCookie {
			return browser{userID: userID, email: email, token: r.str("token"), cookie: &http.Cookie{Name: c.Name, Value: c.Value}}
		}
	}
	t.Fatalf("sign-in %s: no session cookie: %v", email, r.Header["Set-Cookie"])
	return browser{}
}
