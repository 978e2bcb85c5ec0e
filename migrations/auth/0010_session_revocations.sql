-- The revocation feed (issue 14): every replica keeps the recently revoked
-- sessions in memory and checks tokens without reading auth.sessions. One
-- trigger catches every way a session ends early — revoked (logout, reuse,
-- reset, password change), shortened, or deleted (account deletion, also
-- by the old service) — records it for the catch-up of a replica that
-- (re)connects, and notifies the listening replicas when it commits.
CREATE TABLE IF NOT EXISTS auth.session_revocations (
  session_id text NOT NULL,
  revoked_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS session_revocations_revoked_at_idx ON auth.session_revocations (revoked_at);

CREATE OR REPLACE FUNCTION auth.session_revoked() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    INSERT INTO auth.session_revocations (session_id) VALUES (OLD.id);
    PERFORM pg_notify('mana_session_revoked', OLD.id);
    RETURN OLD;
  END IF;
  IF (NEW.revoked_at IS NOT NULL AND OLD.revoked_at IS NULL) OR NEW.expires_at < OLD.expires_at
     OR NEW.user_id IS DISTINCT FROM OLD.user_id THEN
    INSERT INTO auth.session_revocations (session_id) VALUES (NEW.id);
    PERFORM pg_notify('mana_session_revoked', NEW.id);
  END IF;
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS sessions_revoked ON auth.sessions;
CREATE TRIGGER sessions_revoked AFTER UPDATE OR DELETE ON auth.sessions
  FOR EACH ROW EXECUTE FUNCTION auth.session_revoked();
