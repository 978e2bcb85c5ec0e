package pg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mana/mana/internal/randid"
	"github.com/mana/mana/internal/revocation"
)

// revocationChannel is the NOTIFY channel of migration 0010's trigger.
const revocationChannel = "mana_session_revoked"

// heartbeatPrefix marks a feed's own heartbeat on the channel (session ids
// never contain ':').
const heartbeatPrefix = "hb:"

// RevocationFeed keeps a revocation.Set current on PostgreSQL: it LISTENs on
// a connection of its own, catches up from auth.session_revocations on
// every (re)connect, and sends itself a heartbeat every quarter of the
// allowed lag. Notifications arrive in commit order, so its own heartbeat,
// sent at T, coming back confirms every revocation committed before T.
type RevocationFeed struct {
	pool   *pgxpool.Pool
	set    *revocation.Set
	maxLag time.Duration
	log    *slog.Logger
	nonce  string
}

// NewRevocationFeed returns the feed of set over pool.
func NewRevocationFeed(pool *pgxpool.Pool, set *revocation.Set, maxLag time.Duration, log *slog.Logger) *RevocationFeed {
	return &RevocationFeed{pool: pool, set: set, maxLag: maxLag, log: log, nonce: randid.ID(12)}
}

// Run feeds the set until ctx ends, reconnecting after failures (the set
// vouches for nothing meanwhile, so checks read the database).
func (f *RevocationFeed) Run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for {
		err := f.listen(ctx)
		f.set.Lost()
		if ctx.Err() != nil {
			return
		}
		f.log.WarnContext(ctx, "revocation feed lost; token checks read the database until it is back", "err", err,
			"retry_in", backoff.String())
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// listen holds one connection: LISTEN, catch up, then wait for
// notifications and heartbeats until an error.
func (f *RevocationFeed) listen(ctx context.Context) error {
	conn, err := f.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire a connection: %w", err)
	}
	// The connection LISTENs: it never goes back to the pool.
	raw := conn.Hijack()
	defer func() { _ = raw.Close(context.WithoutCancel(ctx)) }()
	if _, err := raw.Exec(ctx, "LISTEN "+revocationChannel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if err := f.catchUp(ctx, raw); err != nil {
		return err
	}
	f.log.InfoContext(ctx, "revocation feed connected", "revoked_sessions", f.set.Len())
	beat := f.maxLag / 4
	next := time.Now()
	lastPrune := time.Now()
	for {
		if !time.Now().Before(next) {
			sent := time.Now()
			payload := heartbeatPrefix + f.nonce + ":" + strconv.FormatInt(sent.UnixNano(), 10)
			if _, err := raw.Exec(ctx, "SELECT pg_notify($1, $2)", revocationChannel, payload); err != nil {
				return fmt.Errorf("heartbeat: %w", err)
			}
			next = sent.Add(beat)
		}
		if time.Since(lastPrune) > 10*time.Minute {
			f.set.Prune()
			if _, err := raw.Exec(ctx, `DELETE FROM auth.session_revocations WHERE revoked_at < now() - $1::interval`,
				revocation.Retention.String()); err != nil {
				return fmt.Errorf("prune revocations: %w", err)
			}
			lastPrune = time.Now()
		}
		waitCtx, cancel := context.WithDeadline(ctx, next)
		n, err := raw.WaitForNotification(waitCtx)
		cancel()
		if n != nil {
			f.receive(n.Payload)
		}
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded) || waitCtx.Err() != nil:
			// Time for the next heartbeat.
		default:
			return fmt.Errorf("wait for notifications: %w", err)
		}
	}
}

// catchUp loads the revocations of the last Retention. It starts after
// LISTEN, so a revocation committed meanwhile is notified or loaded (or
// both); everything committed before it started is loaded.
func (f *RevocationFeed) catchUp(ctx context.Context, conn *pgx.Conn) error {
	started := time.Now()
	rows, err := conn.Query(ctx, `SELECT session_id, revoked_at FROM auth.session_revocations
		WHERE revoked_at > now() - $1::interval`, revocation.Retention.String())
	if err != nil {
		return fmt.Errorf("catch up: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var at time.Time
		if err := rows.Scan(&id, &at); err != nil {
			return fmt.Errorf("catch up: %w", err)
		}
		f.set.Add(at, id)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("catch up: %w", err)
	}
	f.set.Confirm(started)
	return nil
}

// receive handles one notification: a revoked session id, this feed's own
// heartbeat (a confirmation), or another replica's heartbeat (ignored).
func (f *RevocationFeed) receive(payload string) {
	rest, ok := strings.CutPrefix(payload, heartbeatPrefix)
	if !ok {
		f.set.Add(time.Now(), payload)
		return
	}
	nonce, sent, ok := strings.Cut(rest, ":")
	if !ok || nonce != f.nonce {
		return
	}
	ns, err := strconv.ParseInt(sent, 10, 64)
	if err != nil {
		return
	}
	f.set.Confirm(time.Unix(0, ns))
}
