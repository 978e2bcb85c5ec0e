package app

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mana/mana/internal/auth"
	"github.com/mana/mana/internal/config"
	"github.com/mana/mana/internal/cutover"
	"github.com/mana/mana/internal/kek"
	"github.com/mana/mana/internal/kekrotate"
	"github.com/mana/mana/internal/password"
	"github.com/mana/mana/internal/store/pg"
	"github.com/mana/mana/internal/store/sqlite"
)

// cutoverStores are the stores the cut-over commands work on.
type cutoverStores struct {
	state  cutover.Store
	vaults kekrotate.Store
	close  func() error
}

// openCutoverStores opens PostgreSQL (DATABASE_URL, migrated by the
// service) or the SQLite file of `mana serve`.
func openCutoverStores(ctx context.Context, look config.Lookup, cfg config.Auth) (cutoverStores, error) {
	if db, closeDB, ok, err := commandSQLite(ctx, look); err != nil {
		return cutoverStores{}, err
	} else if ok {
		return cutoverStores{state: sqlite.NewAuthStore(db, nil), vaults: sqlite.NewVaultStore(db), close: closeDB}, nil
	}
	pool, err := openPool(ctx, cfg.DatabaseURL, 4)
	if err != nil {
		return cutoverStores{}, err
	}
	if err := requireMigrated(ctx, pool); err != nil {
		pool.Close()
		return cutoverStores{}, err
	}
	return cutoverStores{state: pg.NewAuthStore(pool, nil), vaults: pg.NewVaultStore(pool),
		close: func() error { pool.Close(); return nil }}, nil
}

// requireMigrated refuses a schema older than this binary: migrating is the
// service's job (a command may run as a role without DDL rights).
func requireMigrated(ctx context.Context, pool *pgxpool.Pool) error {
	st, err := pg.MigrationStates(ctx, pool, pg.Auth)
	if err != nil {
		return err
	}
	for _, s := range st {
		if !s.Applied {
			return fmt.Errorf("migration %s/%s is not applied: run `mana migrate` (or start mana-auth) first", s.Component, s.Name)
		}
	}
	return nil
}

// CutoverStatus is `mana cutover status`: rows per format and whether going
// back to the old service is safe.
func CutoverStatus(ctx context.Context, out io.Writer, look config.Lookup) (err error) {
	cfg, err := config.LoadAuth(look)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	st, err := openCutoverStores(ctx, look, cfg)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, st.close()) }()
	r, err := cutover.Status(ctx, st.state, st.vaults, 500)
	if err != nil {
		return err
	}
	r.Print(out)
	return nil
}

// CutoverFinalize is `mana cutover finalize`: it ends the rollback window
// and moves every row to mana's formats (online, resumable, audited).
func CutoverFinalize(ctx context.Context, out io.Writer, look config.Lookup, batch int) (err error) {
	cfg, ring, st, err := openAuthCommand(ctx, look)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, st.close()) }()
	_, err = cutover.Finalize(ctx, st.state, st.vaults, password.NewHasher(password.OWASP, cfg.MaxConcurrentHashes), ring,
		auth.StoredSessionToken, cutover.Options{BatchSize: batch, Progress: out, BetterAuthSecret: cfg.BetterAuthSecret})
	if err != nil {
		return err
	}
	r, err := cutover.Status(ctx, st.state, st.vaults, batch)
	if err != nil {
		return err
	}
	r.Print(out)
	return nil
}

// openAuthCommand loads mana-auth's configuration, its KEK ring and the
// stores an operator command works on.
func openAuthCommand(ctx context.Context, look config.Lookup) (config.Auth, *kek.Ring, cutoverStores, error) {
	cfg, err := config.LoadAuth(look)
	if err != nil {
		return config.Auth{}, nil, cutoverStores{}, fmt.Errorf("configuration: %w", err)
	}
	ring, err := kek.NewRing(cfg.KEK, cfg.PreviousKEKs...)
	if err != nil {
		return config.Auth{}, nil, cutoverStores{}, fmt.Errorf("MANA_AUTH_KEK / MANA_AUTH_KEK_PREVIOUS: %w", err)
	}
	st, err := openCutoverStores(ctx, look, cfg)
	if err != nil {
		return config.Auth{}, nil, cutoverStores{}, err
	}
	return cfg, ring, st, nil
}

// refuseInWindow stops an operation that writes formats the old service
// cannot read while the rollback window is open.
func refuseInWindow(ctx context.Context, st cutover.Store, what string) error {
	c, err := st.Counts(ctx)
	if err != nil {
		return err
	}
	if c.State == cutover.Window {
		return fmt.Errorf("%s is refused while the cut-over's rollback window is open (the old service could not read the result): run `mana cutover finalize` first", what)
	}
	return nil
}
