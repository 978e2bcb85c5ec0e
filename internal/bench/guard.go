// Package bench is the logic of the manabench load tool: a closed-loop,
// bounded HTTP load generator for mana's auth API, with CPU and memory
// accounting read from /proc. It only ever talks to loopback addresses, so a
// mistyped URL cannot turn it against someone else's server.
package bench

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// ErrNotLoopback is returned for a base URL whose host is not a loopback address.
var ErrNotLoopback = errors.New("bench: base URL is not loopback")

// CheckLoopback accepts only http(s) URLs whose host is "localhost" or a
// literal address in 127.0.0.0/8 or ::1. Names other than localhost are
// refused without resolving them: a resolver could answer anything.
func CheckLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("bench: parse base URL %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%w: %q has scheme %q, want http or https", ErrNotLoopback, raw, u.Scheme)
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%w: %q (host %q)", ErrNotLoopback, raw, host)
	}
	return nil
}
