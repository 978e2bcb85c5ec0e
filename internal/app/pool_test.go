package app

import (
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestPoolPreparesStatements: by default the pool caches prepared
// statements (PostgreSQL plans a hot statement once per connection), and a
// DATABASE_URL for a transaction-mode pooler can name another mode.
// Negative control: forcing QueryExecModeCacheDescribe in poolConfig (the
// mode before issue 14) fails the first case; forcing any mode ignores the
// URL's and fails the second.
func TestPoolPreparesStatements(t *testing.T) {
	for _, c := range []struct {
		dsn  string
		want pgx.QueryExecMode
	}{
		{"postgresql://mana@127.0.0.1:5432/mana_platform?sslmode=disable", pgx.QueryExecModeCacheStatement},
		{"postgresql://mana@127.0.0.1:6432/mana_platform?sslmode=disable&default_query_exec_mode=cache_describe", pgx.QueryExecModeCacheDescribe},
	} {
		pc, err := poolConfig(c.dsn, 4)
		if err != nil {
			t.Fatalf("%s: %v", c.dsn, err)
		}
		if got := pc.ConnConfig.DefaultQueryExecMode; got != c.want {
			t.Errorf("%s: query exec mode %v, want %v", c.dsn, got, c.want)
		}
		if pc.MaxConns != 4 {
			t.Errorf("%s: max connections %d, want 4", c.dsn, pc.MaxConns)
		}
	}
}
