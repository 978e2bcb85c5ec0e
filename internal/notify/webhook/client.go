package webhook

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// NewClient returns the HTTP client for webhooks. Unless allowPrivate is set
// it refuses to connect to loopback, private, link-local and unspecified
// addresses — checked on the resolved address of every connection, so
// neither a DNS name nor a redirect reaches the service's own network.
// Redirects are not followed at all: a 3xx is a failed attempt.
func NewClient(allowPrivate bool) *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	if !allowPrivate {
		dialer.Control = refusePrivate
	}
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: MaxTimeout,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
	}
	return &http.Client{
		Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// ErrPrivateAddress: the webhook URL resolves to an internal address.
var ErrPrivateAddress = fmt.Errorf("webhook target is a private or loopback address (set NOTIFY_WEBHOOK_ALLOW_PRIVATE=true to allow)")

func refusePrivate(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("webhook dial %s: %w", address, err)
	}
	if a := ap.Addr(); isInternal(a) {
		return fmt.Errorf("%w: %s", ErrPrivateAddress, a.Unmap())
	}
	return nil
}

// internalPrefixes are non-public ranges that netip's predicates miss:
// "this network" (0/8, where 0.0.0.0 reaches the host itself), the
// carrier-grade NAT space (100.64/10, used inside clouds and VPNs, e.g. a
// metadata service at 100.100.100.200), IETF protocol assignments,
// benchmarking and the reserved 240/4 with broadcast.
var internalPrefixes = [...]netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
}

// nat64 is the well-known NAT64 prefix: its last 32 bits are an IPv4 address.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// isInternal reports whether a is not a public unicast address.
func isInternal(a netip.Addr) bool {
	a = a.Unmap()
	if nat64.Contains(a) {
		b := a.As16()
		return isInternal(netip.AddrFrom4([4]byte(b[12:])))
	}
	if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsUnspecified() ||
		a.IsMulticast() || a.IsInterfaceLocalMulticast() {
		return true
	}
	for _, p := range internalPrefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
