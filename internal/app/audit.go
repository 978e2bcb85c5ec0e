package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"

	"github.com/mana/mana/internal/audit"
	"github.com/mana/mana/internal/config"
	"github.com/mana/mana/internal/store/pg"
	"github.com/mana/mana/internal/store/sqlite"
)

// ErrChainBroken is returned by AuditVerify when the audit chain does not
// verify (the command exits non-zero).
var ErrChainBroken = errors.New("the audit chain does not verify")

// openChain opens the audit chain of PostgreSQL (DATABASE_URL, migrated by
// the service) or of the SQLite file of `mana serve`. Only the audit tables
// are used: no KEK or other secret is needed.
func openChain(ctx context.Context, look config.Lookup) (audit.ChainStore, func() error, error) {
	if db, closeDB, ok, err := commandSQLite(ctx, look); err != nil {
		return nil, nil, err
	} else if ok {
		return sqlite.NewAuthStore(db, nil), closeDB, nil
	}
	cmd, err := config.LoadCommand(look)
	if err != nil {
		return nil, nil, fmt.Errorf("configuration: %w", err)
	}
	if cmd.DatabaseURL == "" {
		return nil, nil, fmt.Errorf("no database: set DATABASE_URL, or MANA_DATA_DIR to the data directory of `mana serve` (%s holds none)", cmd.DataDir)
	}
	pool, err := openPool(ctx, cmd.DatabaseURL, 2)
	if err != nil {
		return nil, nil, err
	}
	if err := requireMigrated(ctx, pool); err != nil {
		pool.Close()
		return nil, nil, err
	}
	return pg.NewAuthStore(pool, nil), func() error { pool.Close(); return nil }, nil
}

// AuditSeal is `mana audit seal`: it seals every security event committed
// so far (what the services' background sealer does every
// MANA_AUDIT_SEAL_INTERVAL).
func AuditSeal(ctx context.Context, out io.Writer, look config.Lookup) (err error) {
	st, closeStore, err := openChain(ctx, look)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, closeStore()) }()
	n, busy, err := audit.SealPending(ctx, st, audit.DefaultSealBatch, rand.Reader)
	if err != nil {
		return err
	}
	if busy {
		fmt.Fprintf(out, "audit seal: sealed %d; another sealer holds the chain and seals the rest\n", n)
		return nil
	}
	fmt.Fprintf(out, "audit seal: sealed %d\n", n)
	return nil
}

// AuditVerify is `mana audit verify`: it walks the chain and prints the
// counts and `ok`, or the first broken link and ErrChainBroken.
func AuditVerify(ctx context.Context, out io.Writer, look config.Lookup) (err error) {
	st, closeStore, err := openChain(ctx, look)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, closeStore()) }()
	r, err := audit.Verify(ctx, st)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "sealed: %d\nerased: %d\nunsealed: %d\n", r.Sealed, r.Erased, r.Unsealed)
	if r.Break != nil {
		fmt.Fprintln(out, r.Break.String())
		return fmt.Errorf("%w: %s", ErrChainBroken, r.Break)
	}
	// The head lets an operator keep a checkpoint outside the database: a
	// chain cut short after it is not visible from inside.
	fmt.Fprintf(out, "head: seq %d link %x\nok\n", r.Head.Seq, r.Head.Link)
	return nil
}
