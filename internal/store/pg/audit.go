package pg

// The audit chain's storage (audit F19): seals in auth.security_event_seals,
// appended by one sealer at a time, walked by `mana audit verify`.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mana/mana/internal/audit"
)

// AuditSealLockKey is the transaction advisory lock of the chain ("mana_aud"):
// the sealer tries it (and skips its tick when another replica holds it), and
// auth.pseudonymise_security_events (migration 0008) waits for it, so no seal
// is computed from a row an erasure is changing. Keep the two in step.
const AuditSealLockKey int64 = 0x6d616e615f617564

// sealWindow is how far before the last sealed event's time the sealer looks
// for unsealed events: an event's created_at is its transaction's start, so
// a long transaction commits events older than ones already sealed.
const sealWindow = time.Hour

var _ audit.ChainStore = (*AuthStore)(nil)

// SealBatch implements audit.ChainStore.
func (s *AuthStore) SealBatch(ctx context.Context, limit int, seal func(audit.Head, []audit.Record) ([]audit.Seal, error)) (sealed int, busy bool, err error) {
	err = inTx(ctx, s.pool, func(tx pgx.Tx) error {
		var got bool
		if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, AuditSealLockKey).Scan(&got); err != nil {
			return fmt.Errorf("seal: take the chain lock: %w", err)
		}
		if !got {
			busy = true
			return nil
		}
		var head audit.Head
		var last *time.Time
		err := tx.QueryRow(ctx, `SELECT s.seq, s.link, e.created_at FROM auth.security_event_seals s
			LEFT JOIN auth.security_events e ON e.id = s.event_id ORDER BY s.seq DESC LIMIT 1`).Scan(&head.Seq, &head.Link, &last)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("seal: read the chain head: %w", err)
		}
		// Without a last sealed event (none yet, or its row is gone) every
		// unsealed event qualifies. Always a bound (never NULL): the plan
		// stays an index range scan on (created_at, id).
		since := time.Unix(0, 0)
		if last != nil {
			since = last.Add(-sealWindow)
		}
		rows, err := tx.Query(ctx, `SELECT e.id::text, e.user_id, e.event_type, e.created_at, e.ip_address, e.user_agent, e.metadata::text
			FROM auth.security_events e
			WHERE e.created_at > $1
			  AND NOT EXISTS (SELECT 1 FROM auth.security_event_seals s WHERE s.event_id = e.id)
			ORDER BY e.created_at, e.id LIMIT $2`, since, limit)
		if err != nil {
			return fmt.Errorf("seal: read unsealed events: %w", err)
		}
		events, err := pgx.CollectRows(rows, scanRecord)
		if err != nil {
			return fmt.Errorf("seal: read unsealed events: %w", err)
		}
		if len(events) == 0 {
			return nil
		}
		seals, err := seal(head, events)
		if err != nil {
			return err
		}
		seqs, ids, salts, digests, links := make([]int64, len(seals)), make([]string, len(seals)), make([][]byte, len(seals)),
			make([][]byte, len(seals)), make([][]byte, len(seals))
		for i, x := range seals {
			seqs[i], ids[i], salts[i], digests[i], links[i] = x.Seq, x.EventID, x.Salt, x.Digest, x.Link
		}
		tag, err := tx.Exec(ctx, `INSERT INTO auth.security_event_seals (seq, event_id, pii_salt, pii_digest, link)
			SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::bytea[], $4::bytea[], $5::bytea[])`, seqs, ids, salts, digests, links)
		if err != nil {
			return fmt.Errorf("seal: insert %d seals: %w", len(seals), err)
		}
		sealed = int(tag.RowsAffected())
		return nil
	})
	if err != nil {
		return 0, false, err
	}
	return sealed, busy, nil
}

func scanRecord(row pgx.CollectableRow) (audit.Record, error) {
	var r audit.Record
	var meta *string
	if err := row.Scan(&r.ID, &r.UserID, &r.Type, &r.CreatedAt, &r.IP, &r.UserAgent, &meta); err != nil {
		return audit.Record{}, err
	}
	if meta != nil {
		r.Metadata = []byte(*meta)
	}
	return r, nil
}

// WalkChain implements audit.ChainStore: one read-only REPEATABLE READ
// transaction, so the seals, their events and the unsealed count are one
// snapshot.
func (s *AuthStore) WalkChain(ctx context.Context, fn func(audit.SealedRecord) error) (unsealed int, err error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return 0, fmt.Errorf("walk the audit chain: begin: %w", err)
	}
	// Read-only: ending it by rollback loses nothing.
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // see above
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM auth.security_events e
		WHERE NOT EXISTS (SELECT 1 FROM auth.security_event_seals s WHERE s.event_id = e.id)`).Scan(&unsealed); err != nil {
		return 0, fmt.Errorf("walk the audit chain: count unsealed events: %w", err)
	}
	rows, err := tx.Query(ctx, `SELECT s.seq, s.event_id::text, s.pii_salt, s.pii_digest, s.link,
			e.id::text, e.user_id, e.event_type, e.created_at, e.ip_address, e.user_agent, e.metadata::text,
			EXISTS (SELECT 1 FROM auth.users u WHERE u.id = e.user_id)
		FROM auth.security_event_seals s LEFT JOIN auth.security_events e ON e.id = s.event_id
		ORDER BY s.seq`)
	if err != nil {
		return 0, fmt.Errorf("walk the audit chain: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r audit.SealedRecord
		var id, typ, meta *string
		var created *time.Time
		var e audit.Record
		if err := rows.Scan(&r.Seal.Seq, &r.Seal.EventID, &r.Seal.Salt, &r.Seal.Digest, &r.Seal.Link,
			&id, &e.UserID, &typ, &created, &e.IP, &e.UserAgent, &meta, &r.UserExists); err != nil {
			return 0, fmt.Errorf("walk the audit chain: read a seal: %w", err)
		}
		if id != nil {
			e.ID, e.Type, e.CreatedAt = *id, *typ, *created
			if meta != nil {
				e.Metadata = []byte(*meta)
			}
			r.Event = &e
		}
		if err := fn(r); err != nil {
			return unsealed, err
		}
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("walk the audit chain: %w", err)
	}
	return unsealed, nil
}
