package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/mana/mana/internal/store/storetest"
)

// TestAuditConformance runs the audit log's suite (append-only guards, hash
// chain, erasure, tampering) on a fresh SQLite file per test; the PostgreSQL
// run is tests/integration/conformance_pg_test.go.
func TestAuditConformance(t *testing.T) {
	storetest.RunAudit(t, newBackend)
}

var (
	sqlitePlaceholder = regexp.MustCompile(`\$(\d+)`)
	sqliteMetaField   = regexp.MustCompile(`\{metadata\.(\w+)\}`)
)

// auditInspector is storetest.AuditInspector on the SQLite file.
type auditInspector struct{ db *sql.DB }

func (auditInspector) sql(q string) string {
	q = strings.NewReplacer("{events}", "auth_security_events", "{seals}", "auth_security_event_seals", "{users}", "auth_users").Replace(q)
	q = sqliteMetaField.ReplaceAllString(q, `json_extract(metadata, '$$.$1')`)
	return sqlitePlaceholder.ReplaceAllString(q, `?$1`)
}

func (i auditInspector) Exec(ctx context.Context, q string, args ...any) error {
	_, err := i.db.ExecContext(ctx, i.sql(q), args...)
	return err
}

// Bypass drops the audit tables' triggers, runs q and recreates them, in
// one transaction (SQLite has no switch to turn triggers off).
func (i auditInspector) Bypass(ctx context.Context, q string, args ...any) (err error) {
	tx, err := i.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, tx.Rollback())
		}
	}()
	rows, err := tx.QueryContext(ctx, `SELECT name, sql FROM sqlite_master WHERE type = 'trigger'
		AND tbl_name IN ('auth_security_events', 'auth_security_event_seals')`)
	if err != nil {
		return err
	}
	triggers := map[string]string{}
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			return errors.Join(err, rows.Close())
		}
		triggers[name] = def
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	if len(triggers) == 0 {
		return errors.New("no audit triggers to bypass")
	}
	for name := range triggers {
		if _, err := tx.ExecContext(ctx, `DROP TRIGGER `+name); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, i.sql(q), args...); err != nil {
		return err
	}
	for name, def := range triggers {
		if _, err := tx.ExecContext(ctx, def); err != nil {
			return fmt.Errorf("recreate %s: %w", name, err)
		}
	}
	return tx.Commit()
}

func (i auditInspector) Value(ctx context.Context, q string, args ...any) (string, error) {
	var v any
	if err := i.db.QueryRowContext(ctx, i.sql(q), args...).Scan(&v); err != nil {
		return "", err
	}
	if v == nil {
		return "", nil
	}
	if b, ok := v.([]byte); ok {
		return string(b), nil
	}
	return fmt.Sprint(v), nil
}
