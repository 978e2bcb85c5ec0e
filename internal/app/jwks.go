package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/mana/mana/internal/config"
	"github.com/mana/mana/internal/store/pg"
	"github.com/mana/mana/internal/store/sqlite"
	"github.com/mana/mana/internal/token"
)

// JWKSRotate is `mana jwks rotate`: a new signing key, published now and
// signing after prepublish (consumers caching the JWKS learn it first).
func JWKSRotate(ctx context.Context, out io.Writer, log *slog.Logger, look config.Lookup, prepublish time.Duration) error {
	return withIssuer(ctx, log, look, "mana jwks rotate", func(iss *token.Issuer) error {
		kid, err := iss.Rotate(ctx, time.Now().Add(prepublish))
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "jwks rotate: key %s published now; it signs from %s on (every process picks it up within a minute)\n",
			kid, time.Now().Add(prepublish).UTC().Format(time.RFC3339))
		return nil
	})
}

// JWKSRetire is `mana jwks retire KID`: the key stops signing at once and is
// withdrawn (its tokens refused) after grace.
func JWKSRetire(ctx context.Context, out io.Writer, log *slog.Logger, look config.Lookup, kid string, grace time.Duration) error {
	return withIssuer(ctx, log, look, "mana jwks retire", func(iss *token.Issuer) error {
		notAfter := time.Now().Add(grace)
		if err := iss.Retire(ctx, kid, notAfter); err != nil {
			return err
		}
		fmt.Fprintf(out, "jwks retire: key %s signs no more; withdrawn at %s\n", kid, notAfter.UTC().Format(time.RFC3339))
		return nil
	})
}

// withIssuer opens the auth store (PostgreSQL, or the SQLite file of `mana
// serve`) and its signing keys, refusing while the cut-over's rollback
// window is open (the old service signs with the newest key and could not
// open a new one).
func withIssuer(ctx context.Context, log *slog.Logger, look config.Lookup, what string, fn func(*token.Issuer) error) (err error) {
	cfg, ring, st, err := openAuthCommand(ctx, look)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, st.close()) }()
	if err := refuseInWindow(ctx, st.state, what); err != nil {
		return err
	}
	keys, ok := st.state.(token.KeyStore)
	if !ok {
		return fmt.Errorf("%s: the store holds no signing keys", what)
	}
	iss, err := token.NewIssuer(ctx, token.Config{Store: keys, Ring: ring, Issuer: cfg.BaseURL, Audience: cfg.JWTAudience,
		BetterAuthSecret: cfg.BetterAuthSecret, Log: log})
	if err != nil {
		return err
	}
	return fn(iss)
}

var (
	_ token.KeyStore = (*pg.AuthStore)(nil)
	_ token.KeyStore = (*sqlite.AuthStore)(nil)
)
