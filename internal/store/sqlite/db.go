package sqlite

// Opening the embedded database of `mana serve` (no DATABASE_URL) and
// bringing its schema up to date: our migrations, then River's. This is the
// one place that knows the connection settings, so every store and the job
// queue share one handle configured the same way.

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver (no cgo)

	"github.com/mana/mana/migrations"
)

// Open opens (creating if needed) the database file at file.
//
// Settings, and why:
//   - WAL journal: readers do not block the writer and vice versa.
//   - synchronous=FULL: a committed transaction survives power loss; mail
//     and audit rows must never be lost.
//   - foreign_keys=ON: SQLite does not enforce them otherwise.
//   - busy_timeout: wait for the write lock instead of failing at once.
//   - _txlock=immediate: every transaction takes the write lock at BEGIN, so
//     two transactions can never both read and then deadlock upgrading to
//     write; this is what makes read-decide-write sequences (lockout) exact.
//   - one connection: SQLite has one writer anyway, and one connection rules
//     out SQLITE_BUSY between our own goroutines. Code inside a transaction
//     must use that transaction only (asking the pool again would wait for
//     ever), which the stores do.
func Open(ctx context.Context, file string) (*sql.DB, error) {
	if file == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(ON)", "busy_timeout(10000)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+file+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite %s: %w", file, err)
	}
	db.SetMaxOpenConns(1)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	var mode string
	if err := db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		db.Close() //nolint:errcheck // the query error is the one reported
		return nil, fmt.Errorf("sqlite %s: %w", file, err)
	}
	if !strings.EqualFold(mode, "wal") {
		db.Close() //nolint:errcheck // the mode error is the one reported
		return nil, fmt.Errorf("sqlite %s: journal mode is %q, want wal (is the file on a filesystem without shared memory?)", file, mode)
	}
	return db, nil
}

// Component names one directory of SQLite migrations.
type Component string

const (
	Auth   Component = "auth"
	Notify Component = "notify"
)

const ledgerDDL = `CREATE TABLE IF NOT EXISTS mana_schema_migrations (
  component  TEXT NOT NULL,
  name       TEXT NOT NULL,
  applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  PRIMARY KEY (component, name))`

// Migrate applies every pending migration of the components, each file in
// its own transaction with its ledger row, then River's schema. It returns
// the names applied.
func Migrate(ctx context.Context, db *sql.DB, components ...Component) ([]string, error) {
	if _, err := db.ExecContext(ctx, ledgerDDL); err != nil {
		return nil, fmt.Errorf("sqlite migrate: create ledger: %w", err)
	}
	var done []string
	for _, c := range components {
		files, err := load(c)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			applied, err := apply(ctx, db, c, f)
			if err != nil {
				return nil, err
			}
			if applied {
				done = append(done, string(c)+"/"+f.name)
			}
		}
	}
	migrator, err := rivermigrate.New(riversqlite.New(db), nil)
	if err != nil {
		return nil, fmt.Errorf("sqlite migrate: river migrator: %w", err)
	}
	res, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return nil, fmt.Errorf("sqlite migrate: river schema: %w", err)
	}
	for _, v := range res.Versions {
		done = append(done, fmt.Sprintf("river/%03d", v.Version))
	}
	return done, nil
}

type file struct{ name, sql string }

func load(c Component) ([]file, error) {
	dir := path.Join("sqlite", string(c))
	entries, err := fs.ReadDir(migrations.SQLite, dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite migrate: read %s: %w", dir, err)
	}
	var out []file
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		b, err := fs.ReadFile(migrations.SQLite, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("sqlite migrate: read %s/%s: %w", dir, e.Name(), err)
		}
		out = append(out, file{name: e.Name(), sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

func apply(ctx context.Context, db *sql.DB, c Component, f file) (applied bool, err error) {
	err = inTx(ctx, db, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM mana_schema_migrations WHERE component = ? AND name = ?`, string(c), f.name).Scan(&n); err != nil {
			return fmt.Errorf("sqlite migrate: read ledger: %w", err)
		}
		if n > 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, f.sql); err != nil {
			return fmt.Errorf("sqlite migrate: apply %s/%s: %w", c, f.name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO mana_schema_migrations (component, name) VALUES (?, ?)`, string(c), f.name); err != nil {
			return fmt.Errorf("sqlite migrate: record %s/%s: %w", c, f.name, err)
		}
		applied = true
		return nil
	})
	return applied, err
}

// TimeLayout is how every timestamp is stored: RFC 3339 in UTC with exactly
// nine fractional digits. Fixed width is what makes text order equal time
// order, so comparisons and ORDER BY work on the stored text.
const TimeLayout = "2006-01-02T15:04:05.000000000Z"

// FormatTime renders t for storage (always bind times through it; never mix
// with SQL defaults such as strftime, whose width differs).
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// Timestamp scans a stored timestamp into *T.
type Timestamp struct{ T *time.Time }

// Scan implements sql.Scanner.
func (ts Timestamp) Scan(src any) error {
	t, err := parseTime(src)
	if err != nil {
		return err
	}
	if t == nil {
		return errors.New("sqlite: NULL timestamp where one is required")
	}
	*ts.T = *t
	return nil
}

// NullTimestamp scans a nullable timestamp into **T (nil for NULL).
type NullTimestamp struct{ T **time.Time }

// Scan implements sql.Scanner.
func (ts NullTimestamp) Scan(src any) error {
	t, err := parseTime(src)
	if err != nil {
		return err
	}
	*ts.T = t
	return nil
}

func parseTime(src any) (*time.Time, error) {
	var s string
	switch v := src.(type) {
	case nil:
		return nil, nil
	case string:
		s = v
	case []byte:
		s = string(v)
	case time.Time:
		u := v.UTC()
		return &u, nil
	default:
		return nil, fmt.Errorf("sqlite: timestamp stored as %T", src)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil, fmt.Errorf("sqlite: timestamp %q: %w", s, err)
	}
	t = t.UTC()
	return &t, nil
}

// Null binds "" as SQL NULL, as the Postgres stores bind empty strings.
func Null(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// NullTime binds a nil time as NULL and any other as stored text.
func NullTime(p *time.Time) any {
	if p == nil {
		return nil
	}
	return FormatTime(*p)
}

// NewUUID is a random (version 4) UUID in its text form: Postgres fills
// uuid ids with gen_random_uuid(); SQLite has no such function.
func NewUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
