-- What our design adds (DESIGN.md §5): one-time link tokens stored only as hashes,
-- refresh-token families with rotation and reuse detection, and the signing keys'
-- KEK id. New tables and new columns only; no existing column changes meaning.

-- Verification (and later reset) links. Only the SHA-256 of the token is kept;
-- used_at makes a link single-use without deleting the row that the resend
-- throttle counts.
CREATE TABLE IF NOT EXISTS auth.link_tokens (
  token_hash  bytea PRIMARY KEY,
  purpose     text NOT NULL CHECK (purpose IN ('verify-email', 'reset-password')),
  user_id     text NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
  email       text NOT NULL,
  -- why the link was issued: 'register' or 'resend' (the resend throttle counts only resends)
  reason      text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL,
  used_at     timestamptz
);
CREATE INDEX IF NOT EXISTS link_tokens_user_purpose_idx ON auth.link_tokens (user_id, purpose, created_at);

-- One row per refresh token ever issued. A session is a token family: every
-- rotation adds a row to the same session; presenting a row that was already
-- rotated revokes the session.
CREATE TABLE IF NOT EXISTS auth.refresh_tokens (
  token_hash  bytea PRIMARY KEY,
  session_id  text NOT NULL REFERENCES auth.sessions (id) ON DELETE CASCADE,
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL,
  rotated_at  timestamptz
);
CREATE INDEX IF NOT EXISTS refresh_tokens_session_idx ON auth.refresh_tokens (session_id);

-- Signing keys written by this service encrypt the private JWK under the KEK ring;
-- rows the old service wrote (kek_id NULL) used BETTER_AUTH_SECRET instead.
ALTER TABLE auth.jwks ADD COLUMN IF NOT EXISTS kek_id text;

CREATE INDEX IF NOT EXISTS security_events_user_type_idx ON auth.security_events (user_id, event_type);
