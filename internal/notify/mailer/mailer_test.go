package mailer

import (
	"bufio"
	"context"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"testing"
)

func TestMessageID(t *testing.T) {
	// Guard: mailer.go `domain = strings.ToLower(fromAddress[at+1:])`.
	if got := messageID("0b9f5f4e-5f3e-4a43-9d6c-3f8f0c3e9a01", "noreply@Mana.How"); got != "0b9f5f4e-5f3e-4a43-9d6c-3f8f0c3e9a01@mana.how" {
		t.Fatalf("got %q", got)
	}
	if got := messageID("id", "odd"); got != "id@localhost" {
		t.Fatalf("without a domain: %q", got)
	}
}

func TestChooseTLSMode(t *testing.T) {
	tests := []struct {
		host     string
		port     int
		insecure bool
		want     TLSMode
		guard    string
	}{
		{"smtp.example.com", 465, false, TLSImplicit, `case port == 465:`},
		{"smtp.example.com", 465, true, TLSImplicit, `case port == 465:`},
		{"smtp.example.com", 587, false, TLSStartTLSRequired, `default: return TLSStartTLSRequired`},
		{"smtp.example.com", 25, true, TLSStartTLSOpportunistic, `case insecure || IsLoopback(host):`},
		{"localhost", 1025, false, TLSStartTLSOpportunistic, `if strings.EqualFold(host, "localhost")`},
		{"127.0.0.1", 1025, false, TLSStartTLSOpportunistic, `return ip != nil && ip.IsLoopback()`},
		{"::1", 1025, false, TLSStartTLSOpportunistic, `return ip != nil && ip.IsLoopback()`},
		{"10.0.0.5", 1025, false, TLSStartTLSRequired, `return ip != nil && ip.IsLoopback()`},
	}
	for _, tt := range tests {
		if got := ChooseTLSMode(tt.host, tt.port, tt.insecure); got != tt.want {
			t.Errorf("%s:%d insecure=%v: %v, want %v (guard: %s)", tt.host, tt.port, tt.insecure, got, tt.want, tt.guard)
		}
	}
}

func TestNewRejectsBadSettings(t *testing.T) {
	if _, err := New(Config{Host: "", Port: 25, From: "a@b.example"}); err == nil {
		t.Error("empty host accepted")
	}
	// Guard: mailer.go `from, err := mail.ParseAddress(cfg.From)` error return.
	if _, err := New(Config{Host: "h", Port: 25, From: "Mana noreply"}); err == nil {
		t.Error("bad from accepted")
	}
}

// smtpSession is what the fake server saw.
type smtpSession struct {
	commands []string // every command line, in order
	data     string   // the DATA payload
}

// serveSMTP accepts one connection on ln and speaks just enough SMTP: it
// advertises AUTH (so a client that wanted to authenticate would), accepts
// any AUTH, MAIL, RCPT and DATA, and reports the session on the channel when
// the client quits or hangs up. No STARTTLS is offered.
func serveSMTP(t *testing.T, ln net.Listener) <-chan smtpSession {
	t.Helper()
	done := make(chan smtpSession, 1)
	go func() {
		var s smtpSession
		defer func() { done <- s }()
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		r := bufio.NewReader(conn)
		reply := func(line string) { _, _ = io.WriteString(conn, line+"\r\n") }
		reply("220 test ESMTP")
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimRight(line, "\r\n")
			s.commands = append(s.commands, line)
			verb := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
			switch verb {
			case "EHLO":
				reply("250-test")
				reply("250-AUTH PLAIN LOGIN")
				reply("250 8BITMIME")
			case "AUTH":
				reply("235 2.7.0 Authentication successful")
			case "MAIL", "RCPT", "NOOP", "RSET":
				reply("250 OK")
			case "DATA":
				reply("354 go ahead")
				var b strings.Builder
				for {
					l, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if l == ".\r\n" {
						break
					}
					b.WriteString(strings.TrimPrefix(l, ".")) // undo dot-stuffing
				}
				s.data = b.String()
				reply("250 OK queued")
			case "QUIT":
				reply("221 bye")
				return
			default:
				reply("502 command not implemented")
			}
		}
	}()
	return done
}

func listen(t *testing.T) (net.Listener, int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln, ln.Addr().(*net.TCPAddr).Port
}

func hasCommand(s smtpSession, prefix string) bool {
	for _, c := range s.commands {
		if strings.HasPrefix(strings.ToUpper(c), prefix) {
			return true
		}
	}
	return false
}

// A loopback relay without credentials (Mailpit in tests): no STARTTLS on
// offer, so the session stays plain, and no AUTH is sent although the server
// advertises it. The message carries the HTML and a derived text part.
//
// Guards: mailer.go `case insecure || IsLoopback(host):` (else STARTTLS is
// required and the send fails); the `case s.cfg.User == "":` branch of
// clientOptions (without it the credential branch runs and AUTH is sent);
// `msg.SetBodyString(gomail.TypeTextPlain, ...)` and
// `msg.AddAlternativeString(gomail.TypeTextHTML, ...)` for the parts;
// `msg.SetMessageIDWithValue(...)` for the Message-ID.
func TestSendWithoutUserSendsNoAuth(t *testing.T) {
	ln, port := listen(t)
	session := serveSMTP(t, ln)
	m, err := New(Config{Host: "127.0.0.1", Port: port, From: "Mana Test <noreply@test.local>"})
	if err != nil {
		t.Fatal(err)
	}
	html := `<p>Hallo,</p><p><a href="https://auth.test/verify?t=1">E-Mail bestätigen</a></p>`
	err = m.Send(context.Background(), Email{
		NotificationID: "0b9f5f4e-5f3e-4a43-9d6c-3f8f0c3e9a01", To: "user@example.com",
		ReplyTo: "help@test.local", Subject: "E-Mail bestätigen — Mana", HTML: html,
	})
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	s := <-session
	if hasCommand(s, "AUTH") {
		t.Fatalf("AUTH sent without a user: %q", s.commands)
	}
	if hasCommand(s, "STARTTLS") {
		t.Fatalf("STARTTLS sent although not offered: %q", s.commands)
	}
	if !hasCommand(s, "MAIL FROM:<NOREPLY@TEST.LOCAL>") || !hasCommand(s, "RCPT TO:<USER@EXAMPLE.COM>") {
		t.Fatalf("envelope: %q", s.commands)
	}

	msg, err := mail.ReadMessage(strings.NewReader(s.data))
	if err != nil {
		t.Fatalf("parse message: %v\n%s", err, s.data)
	}
	if got := msg.Header.Get("Message-ID"); got != "<0b9f5f4e-5f3e-4a43-9d6c-3f8f0c3e9a01@test.local>" {
		t.Errorf("Message-ID %q", got)
	}
	if got := msg.Header.Get("Reply-To"); got != "<help@test.local>" {
		t.Errorf("Reply-To %q", got)
	}
	rawSubject := msg.Header.Get("Subject")
	if !strings.HasPrefix(rawSubject, "=?UTF-8?") {
		t.Errorf("subject not RFC 2047 encoded: %q", rawSubject)
	}
	if subject, err := new(mime.WordDecoder).DecodeHeader(rawSubject); err != nil || subject != "E-Mail bestätigen — Mana" {
		t.Errorf("subject %q (%v)", subject, err)
	}
	if from, err := msg.Header.AddressList("From"); err != nil || from[0].Address != "noreply@test.local" || from[0].Name != "Mana Test" {
		t.Errorf("From %v (%v)", from, err)
	}

	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/alternative" {
		t.Fatalf("content type %q (%v)", msg.Header.Get("Content-Type"), err)
	}
	parts := map[string]string{}
	var order []string
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		var body io.Reader = p // multipart.Reader decodes quoted-printable itself
		if p.Header.Get("Content-Transfer-Encoding") != "" {
			body = quotedprintable.NewReader(p)
		}
		b, err := io.ReadAll(body)
		if err != nil {
			t.Fatal(err)
		}
		parts[ct] = string(b)
		order = append(order, ct)
	}
	if parts["text/html"] != html {
		t.Errorf("html part %q", parts["text/html"])
	}
	if want := "Hallo,\n\nE-Mail bestätigen (https://auth.test/verify?t=1)"; strings.ReplaceAll(parts["text/plain"], "\r\n", "\n") != want {
		t.Errorf("text part %q, want %q", parts["text/plain"], want)
	}
	if strings.Join(order, ",") != "text/plain,text/html" {
		t.Errorf("part order %v, want the HTML last (preferred)", order)
	}
}

// With a user, the loopback session (plain text, explicitly allowed) does
// authenticate. Guard: mailer.go `gomail.WithOpportunisticSMTPAuth(authMaybeTLS...)`
// — go-mail's auto-discovery refuses PLAIN and LOGIN on a plain session, and
// the plain variants refuse a non-TLS session, so the send would fail.
func TestSendWithUserAuthenticates(t *testing.T) {
	ln, port := listen(t)
	session := serveSMTP(t, ln)
	m, err := New(Config{Host: "127.0.0.1", Port: port, User: "u", Password: "p", From: "noreply@test.local"})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Send(context.Background(), Email{NotificationID: "id", To: "user@example.com", Subject: "s", HTML: "<p>x</p>"}); err != nil {
		t.Fatalf("send: %v", err)
	}
	s := <-session
	if !hasCommand(s, "AUTH PLAIN") {
		t.Fatalf("no AUTH PLAIN: %q", s.commands)
	}
}

// A relay that must use STARTTLS but does not offer it is refused before any
// mail is handed over. Guard: mailer.go `default: return TLSStartTLSRequired`
// with `gomail.WithTLSPolicy(gomail.TLSMandatory)`. The test also hangs
// (until the test timeout) without `conns.closeAll()` in Send, because
// go-mail leaves the connection open after the failed STARTTLS check and the
// fake server waits for the next command.
func TestSendRequiresStartTLSForRemoteRelay(t *testing.T) {
	ln, port := listen(t)
	session := serveSMTP(t, ln)
	m, err := New(Config{Host: "127.0.0.1", Port: port, From: "noreply@test.local"})
	if err != nil {
		t.Fatal(err)
	}
	m.mode = ChooseTLSMode("relay.example.com", port, false) // what a remote host gets
	err = m.Send(context.Background(), Email{NotificationID: "id", To: "user@example.com", Subject: "s", HTML: "x"})
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("err = %v, want a STARTTLS failure", err)
	}
	ln.Close()
	if s := <-session; hasCommand(s, "MAIL") {
		t.Fatalf("mail handed over without TLS: %q", s.commands)
	}
}

// Header injection through the subject is neutralised. go-mail already
// Q-encodes control characters, so no Bcc header appears either way; the
// decoded subject must still not carry a line break to the mail client.
// Guard: mailer.go `msg.Subject(headerSafe.Replace(e.Subject))`.
func TestSubjectCannotInjectHeaders(t *testing.T) {
	m, err := New(Config{Host: "127.0.0.1", Port: 25, From: "noreply@test.local"})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := m.message(Email{NotificationID: "id", To: "u@example.com", Subject: "hi\r\nBcc: evil@example.com", HTML: "x"})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if _, err := msg.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	parsed, err := mail.ReadMessage(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Header.Get("Bcc") != "" {
		t.Fatalf("Bcc header injected:\n%s", b.String())
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(parsed.Header.Get("Subject"))
	if err != nil || subject != "hi Bcc: evil@example.com" {
		t.Fatalf("decoded subject %q (%v), want the line break replaced by a space", subject, err)
	}
}
