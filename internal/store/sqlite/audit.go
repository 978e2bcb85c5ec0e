package sqlite

// The audit chain's storage (audit F19), twin of internal/store/pg/audit.go.
// One writer (BEGIN IMMEDIATE on the one connection) is the chain's lock:
// no sealer ever runs beside another, nor beside an erasure.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/mana/mana/internal/audit"
)

// sealWindow: see pg.sealWindow (here a transaction's clock is taken at its
// writes, but the bound keeps both backends alike).
const sealWindow = time.Hour

var _ audit.ChainStore = (*AuthStore)(nil)

// SealBatch implements audit.ChainStore.
func (s *AuthStore) SealBatch(ctx context.Context, limit int, seal func(audit.Head, []audit.Record) ([]audit.Seal, error)) (sealed int, busy bool, err error) {
	err = inTx(ctx, s.db, func(tx *sql.Tx) error {
		var head audit.Head
		var last *time.Time
		err := tx.QueryRowContext(ctx, `SELECT s.seq, s.link, e.created_at FROM auth_security_event_seals s
			LEFT JOIN auth_security_events e ON e.id = s.event_id ORDER BY s.seq DESC LIMIT 1`).Scan(&head.Seq, &head.Link, NullTimestamp{T: &last})
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("seal: read the chain head: %w", err)
		}
		since := FormatTime(time.Unix(0, 0))
		if last != nil {
			since = FormatTime(last.Add(-sealWindow))
		}
		rows, err := tx.QueryContext(ctx, `SELECT e.id, e.user_id, e.event_type, e.created_at, e.ip_address, e.user_agent, e.metadata
			FROM auth_security_events e
			WHERE e.created_at > ?1
			  AND NOT EXISTS (SELECT 1 FROM auth_security_event_seals s WHERE s.event_id = e.id)
			ORDER BY e.created_at, e.id LIMIT ?2`, since, limit)
		if err != nil {
			return fmt.Errorf("seal: read unsealed events: %w", err)
		}
		var events []audit.Record
		for rows.Next() {
			var r audit.Record
			var meta *string
			if err := rows.Scan(&r.ID, &r.UserID, &r.Type, Timestamp{T: &r.CreatedAt}, &r.IP, &r.UserAgent, &meta); err != nil {
				rows.Close() //nolint:errcheck // the scan error is the one reported
				return fmt.Errorf("seal: read an unsealed event: %w", err)
			}
			if meta != nil {
				r.Metadata = []byte(*meta)
			}
			events = append(events, r)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return fmt.Errorf("seal: read unsealed events: %w", err)
		}
		if len(events) == 0 {
			return nil
		}
		seals, err := seal(head, events)
		if err != nil {
			return err
		}
		now := FormatTime(s.now())
		for _, x := range seals {
			if _, err := tx.ExecContext(ctx, `INSERT INTO auth_security_event_seals (seq, event_id, pii_salt, pii_digest, link, sealed_at)
				VALUES (?, ?, ?, ?, ?, ?)`, x.Seq, x.EventID, x.Salt, x.Digest, x.Link, now); err != nil {
				return fmt.Errorf("seal: insert seal %d: %w", x.Seq, err)
			}
		}
		sealed = len(seals)
		return nil
	})
	if err != nil {
		return 0, false, err
	}
	return sealed, false, nil
}

// WalkChain implements audit.ChainStore, in one transaction (one snapshot).
// fn runs while the transaction holds the only connection: it must not use
// the database.
func (s *AuthStore) WalkChain(ctx context.Context, fn func(audit.SealedRecord) error) (unsealed int, err error) {
	err = inTx(ctx, s.db, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM auth_security_events e
			WHERE NOT EXISTS (SELECT 1 FROM auth_security_event_seals s WHERE s.event_id = e.id)`).Scan(&unsealed); err != nil {
			return fmt.Errorf("walk the audit chain: count unsealed events: %w", err)
		}
		rows, err := tx.QueryContext(ctx, `SELECT s.seq, s.event_id, s.pii_salt, s.pii_digest, s.link,
				e.id, e.user_id, e.event_type, e.created_at, e.ip_address, e.user_agent, e.metadata,
				EXISTS (SELECT 1 FROM auth_users u WHERE u.id = e.user_id)
			FROM auth_security_event_seals s LEFT JOIN auth_security_events e ON e.id = s.event_id
			ORDER BY s.seq`)
		if err != nil {
			return fmt.Errorf("walk the audit chain: %w", err)
		}
		defer rows.Close() //nolint:errcheck // rows.Err is checked below
		for rows.Next() {
			var r audit.SealedRecord
			var id, typ, meta *string
			var created *time.Time
			var e audit.Record
			if err := rows.Scan(&r.Seal.Seq, &r.Seal.EventID, &r.Seal.Salt, &r.Seal.Digest, &r.Seal.Link,
				&id, &e.UserID, &typ, NullTimestamp{T: &created}, &e.IP, &e.UserAgent, &meta, &r.UserExists); err != nil {
				return fmt.Errorf("walk the audit chain: read a seal: %w", err)
			}
			if id != nil {
				e.ID, e.Type, e.CreatedAt = *id, *typ, *created
				if meta != nil {
					e.Metadata = []byte(*meta)
				}
				r.Event = &e
			}
			if err := fn(r); err != nil {
				return err
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("walk the audit chain: %w", err)
		}
		return nil
	})
	return unsealed, err
}
