-- Account lifecycle (issue 6): indexes for the queries it adds. No column changes.

-- GET /api/v1/auth/security-events and the data export: a user's newest events.
CREATE INDEX IF NOT EXISTS security_events_user_created_idx ON auth.security_events (user_id, created_at DESC);

-- MAX_DAILY_SIGNUPS: today's REGISTER events, counted inside every registration.
CREATE INDEX IF NOT EXISTS security_events_type_created_idx ON auth.security_events (event_type, created_at);

-- Account deletion strips the email from events written before a user was
-- known (failed logins, lockouts): find them by the email in their metadata.
CREATE INDEX IF NOT EXISTS security_events_metadata_email_idx ON auth.security_events ((metadata ->> 'email'))
  WHERE metadata ? 'email';

-- Account deletion removes the old service's reset rows (identifier
-- 'reset-password:<token>', value = user id).
CREATE INDEX IF NOT EXISTS verification_value_idx ON auth.verification (value);
