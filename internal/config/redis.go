package config

import (
	"net"
	"net/url"
	"strconv"
)

// Redis says where the shared rate-limit counters live. The zero value means
// no Redis: counters are kept per process.
type Redis struct {
	// URL is a redis:// or rediss:// URL; empty when Redis is not configured.
	URL string
}

// Enabled reports whether Redis is configured.
func (r Redis) Enabled() bool { return r.URL != "" }

// redis reads REDIS_URL, or the seed's REDIS_HOST/REDIS_PORT/REDIS_PASSWORD.
func (r *reader) redis() Redis {
	if v := r.str("REDIS_URL", ""); v != "" {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			r.fail("REDIS_URL", "must look like redis://[:password@]host:port[/db] or rediss://...")
			return Redis{}
		}
		return Redis{URL: v}
	}
	host := r.str("REDIS_HOST", "")
	if host == "" {
		return Redis{}
	}
	port := r.port("REDIS_PORT", 6379)
	u := url.URL{Scheme: "redis", Host: net.JoinHostPort(host, strconv.Itoa(port))}
	if pw := r.str("REDIS_PASSWORD", ""); pw != "" {
		u.User = url.UserPassword("", pw)
	}
	return Redis{URL: u.String()}
}
