// Package mailer sends notification emails over SMTP with go-mail: an HTML
// part plus a plain-text alternative, a stable Message-ID, and a TLS policy
// that is secure unless explicitly relaxed.
package mailer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// DefaultDialTimeout bounds connecting and each SMTP exchange, so a dead relay
// fails the attempt (and River retries it) instead of holding a worker.
const DefaultDialTimeout = 10 * time.Second

// Config is how to reach the SMTP relay.
type Config struct {
	Host     string
	Port     int
	User     string // empty: no SMTP AUTH at all (Mailpit, a local relay)
	Password string
	// From is the default sender, e.g. "Mana <noreply@mana.how>".
	From string
	// InsecureTLS allows a plain-text session when the server offers no
	// STARTTLS and skips certificate verification (SMTP_INSECURE_TLS).
	InsecureTLS bool
	DialTimeout time.Duration // 0: DefaultDialTimeout
}

// Email is one message to send.
type Email struct {
	// NotificationID makes the Message-ID, so a retried send carries the
	// same id and receivers can recognise a duplicate.
	NotificationID string
	From           string // empty: Config.From
	ReplyTo        string // optional
	To             string
	Subject        string
	HTML           string
}

// TLSMode is how the session is protected.
type TLSMode int

const (
	// TLSImplicit wraps the connection in TLS from the first byte (port 465).
	TLSImplicit TLSMode = iota
	// TLSStartTLSRequired refuses to continue when STARTTLS is unavailable.
	TLSStartTLSRequired
	// TLSStartTLSOpportunistic upgrades when offered, else continues in plain text.
	TLSStartTLSOpportunistic
)

func (m TLSMode) String() string {
	switch m {
	case TLSImplicit:
		return "implicit-tls"
	case TLSStartTLSRequired:
		return "starttls-required"
	case TLSStartTLSOpportunistic:
		return "starttls-opportunistic"
	}
	return fmt.Sprintf("TLSMode(%d)", int(m))
}

// ChooseTLSMode picks the protection for host:port. Port 465 is implicit TLS.
// Otherwise STARTTLS is mandatory, relaxed to opportunistic only by the
// explicit insecure setting or for a loopback relay, whose traffic never
// leaves the machine.
func ChooseTLSMode(host string, port int, insecure bool) TLSMode {
	switch {
	case port == 465:
		return TLSImplicit
	case insecure || IsLoopback(host):
		return TLSStartTLSOpportunistic
	default:
		return TLSStartTLSRequired
	}
}

// IsLoopback reports whether host is localhost or a loopback IP address.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// SMTP sends Email over SMTP. It is safe for concurrent use: each Send opens
// its own session.
type SMTP struct {
	cfg  Config
	from *mail.Address
	mode TLSMode
}

// New checks cfg and returns a mailer. It fails on a missing host or an
// unparsable default From, so a bad setting stops the start instead of
// failing every email later.
func New(cfg Config) (*SMTP, error) {
	if strings.TrimSpace(cfg.Host) == "" {
		return nil, errors.New("smtp host is empty")
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		return nil, fmt.Errorf("smtp port %d is out of range", cfg.Port)
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("default from address %q: %w", cfg.From, err)
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	return &SMTP{cfg: cfg, from: from, mode: ChooseTLSMode(cfg.Host, cfg.Port, cfg.InsecureTLS)}, nil
}

// TLSMode is the protection this mailer uses (for the start-up log).
func (s *SMTP) TLSMode() TLSMode { return s.mode }

// Send delivers e in one SMTP session.
func (s *SMTP) Send(ctx context.Context, e Email) (err error) {
	msg, err := s.message(e)
	if err != nil {
		return err
	}
	var conns connections
	client, err := gomail.NewClient(s.cfg.Host, s.clientOptions(&conns)...)
	if err != nil {
		return fmt.Errorf("smtp client for %s: %w", s.addr(), err)
	}
	defer func() {
		if closeErr := conns.closeAll(); closeErr != nil {
			err = errors.Join(err, fmt.Errorf("close smtp connection: %w", closeErr))
		}
	}()
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("smtp send via %s: %w", s.addr(), err)
	}
	return nil
}

// connections remembers what the dialer opened. go-mail v0.8.1 does not close
// the connection when the session fails after connecting (STARTTLS refused,
// AUTH rejected): without this, each failed attempt would leak a socket.
type connections struct {
	mu    sync.Mutex
	conns []net.Conn
}

func (c *connections) add(conn net.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.conns = append(c.conns, conn)
}

// closeAll closes every connection; one that the session already closed with
// QUIT reports net.ErrClosed, which is the expected case, not an error.
func (c *connections) closeAll() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, conn := range c.conns {
		if err := conn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	c.conns = nil
	return errors.Join(errs...)
}

func (s *SMTP) addr() string { return net.JoinHostPort(s.cfg.Host, fmt.Sprint(s.cfg.Port)) }

func (s *SMTP) tlsConfig() *tls.Config {
	return &tls.Config{
		ServerName: s.cfg.Host,
		MinVersion: tls.VersionTLS12,
		// An explicit, documented relaxation (SMTP_INSECURE_TLS) for relays
		// with self-signed certificates.
		InsecureSkipVerify: s.cfg.InsecureTLS, //nolint:gosec // opt-in via SMTP_INSECURE_TLS
	}
}

// dialer opens the TCP (or, for implicit TLS, TLS) connection and records it
// in conns so that Send can close it whatever happens.
func (s *SMTP) dialer(conns *connections) gomail.DialContextFunc {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		var conn net.Conn
		var err error
		netDialer := &net.Dialer{}
		if s.mode == TLSImplicit {
			conn, err = (&tls.Dialer{NetDialer: netDialer, Config: s.tlsConfig()}).DialContext(ctx, network, address)
		} else {
			conn, err = netDialer.DialContext(ctx, network, address)
		}
		if err != nil {
			return nil, err
		}
		conns.add(conn)
		return conn, nil
	}
}

// Mechanisms in order of preference. Where the session is encrypted PLAIN and
// LOGIN are fine; where it may be plain text, the -NOENC variants send the
// credentials anyway, which only the opportunistic mode (an explicit
// relaxation or a loopback relay) allows.
var (
	authOverTLS  = []gomail.SMTPAuthType{gomail.SMTPAuthSCRAMSHA256, gomail.SMTPAuthSCRAMSHA1, gomail.SMTPAuthPlain, gomail.SMTPAuthLogin}
	authMaybeTLS = []gomail.SMTPAuthType{gomail.SMTPAuthSCRAMSHA256, gomail.SMTPAuthSCRAMSHA1, gomail.SMTPAuthPlainNoEnc, gomail.SMTPAuthLoginNoEnc}
)

func (s *SMTP) clientOptions(conns *connections) []gomail.Option {
	opts := []gomail.Option{
		gomail.WithTimeout(s.cfg.DialTimeout),
		gomail.WithTLSConfig(s.tlsConfig()),
		gomail.WithDialContextFunc(s.dialer(conns)),
	}
	switch s.mode {
	case TLSImplicit:
		// The dialer does the TLS; WithSSL keeps go-mail from trying STARTTLS.
		opts = append(opts, gomail.WithSSL())
	case TLSStartTLSRequired:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSStartTLSOpportunistic:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	}
	// After WithSSL, which may change the port.
	opts = append(opts, gomail.WithPort(s.cfg.Port))

	switch {
	case s.cfg.User == "":
		// No credentials means no SMTP AUTH: a relay that needs none
		// (Mailpit, a local MTA) is a normal setup.
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthNoAuth))
	case s.mode == TLSStartTLSOpportunistic:
		opts = append(opts, gomail.WithUsername(s.cfg.User), gomail.WithPassword(s.cfg.Password),
			gomail.WithOpportunisticSMTPAuth(authMaybeTLS...))
	default:
		// go-mail's own auto-discovery would not know that our dialer's
		// implicit TLS encrypts the session, and would refuse PLAIN/LOGIN.
		opts = append(opts, gomail.WithUsername(s.cfg.User), gomail.WithPassword(s.cfg.Password),
			gomail.WithOpportunisticSMTPAuth(authOverTLS...))
	}
	return opts
}

// headerSafe removes line breaks, which in a header value would start a new
// header (header injection); go-mail leaves plain-ASCII values unencoded.
var headerSafe = strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ")

func (s *SMTP) message(e Email) (*gomail.Msg, error) {
	from := s.from
	if e.From != "" {
		f, err := mail.ParseAddress(e.From)
		if err != nil {
			return nil, fmt.Errorf("from address %q: %w", e.From, err)
		}
		from = f
	}
	msg := gomail.NewMsg(gomail.WithCharset(gomail.CharsetUTF8), gomail.WithEncoding(gomail.EncodingQP))
	if err := msg.From(from.String()); err != nil {
		return nil, fmt.Errorf("from address %q: %w", from.String(), err)
	}
	if err := msg.To(e.To); err != nil {
		return nil, fmt.Errorf("recipient %q: %w", e.To, err)
	}
	if e.ReplyTo != "" {
		if err := msg.ReplyTo(e.ReplyTo); err != nil {
			return nil, fmt.Errorf("reply-to address %q: %w", e.ReplyTo, err)
		}
	}
	// go-mail encodes non-ASCII subjects per RFC 2047.
	msg.Subject(headerSafe.Replace(e.Subject))
	msg.SetMessageIDWithValue(messageID(e.NotificationID, from.Address))
	msg.SetDate()
	// The plain part first and the HTML last: in multipart/alternative the
	// last part is the preferred one (RFC 2046 §5.1.4).
	msg.SetBodyString(gomail.TypeTextPlain, TextFromHTML(e.HTML))
	msg.AddAlternativeString(gomail.TypeTextHTML, e.HTML)
	return msg, nil
}

// messageID is "<notification-id>@<domain of the sender>" without the angle
// brackets (go-mail adds them). One notification keeps one Message-ID across
// retries, so a message delivered twice (sent, then the status write failed)
// is recognisable as a duplicate.
func messageID(notificationID, fromAddress string) string {
	domain := "localhost"
	if at := strings.LastIndexByte(fromAddress, '@'); at >= 0 && at < len(fromAddress)-1 {
		domain = strings.ToLower(fromAddress[at+1:])
	}
	return notificationID + "@" + domain
}
