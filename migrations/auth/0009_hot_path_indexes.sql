-- Indexes for the lookups the hot paths make by user: a user's sessions
-- (session lists, logout-all, revocations, /me/data), the credential read
-- of every login, and the second-factor row. Without them each of these
-- scans its whole table, and cost grows with the number of users.
-- (Plain CREATE INDEX: migrations run in a transaction. On a large database
-- taken over from the old service this holds a write lock on each table
-- for the seconds the build takes.)
CREATE INDEX IF NOT EXISTS sessions_user_id_idx ON auth.sessions (user_id);
CREATE INDEX IF NOT EXISTS accounts_user_id_provider_idx ON auth.accounts (user_id, provider_id);
CREATE INDEX IF NOT EXISTS two_factor_auth_user_id_idx ON auth.two_factor_auth (user_id);
-- Whether any password is not argon2id (sign-in timing padding, audit F11):
-- answered from this partial index, empty once every row is argon2id.
CREATE INDEX IF NOT EXISTS accounts_legacy_password_idx ON auth.accounts (id)
  WHERE password IS NOT NULL AND password NOT LIKE '$argon2id$%';
