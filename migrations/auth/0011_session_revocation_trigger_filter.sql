-- The revocation trigger (0010) ran for every update of a session, and a
-- refresh updates one (its last activity): each rotation paid for a queued
-- trigger event and a call of the function that found nothing to do. The
-- update trigger now fires only when the session ends early, decided by
-- its WHEN condition before any event is queued; deletion has a trigger of
-- its own (a WHEN condition of a delete trigger cannot see NEW). The
-- function is unchanged and still checks both cases itself.
DROP TRIGGER IF EXISTS sessions_revoked ON auth.sessions;
DROP TRIGGER IF EXISTS sessions_revoked_delete ON auth.sessions;
CREATE TRIGGER sessions_revoked AFTER UPDATE ON auth.sessions
  FOR EACH ROW
  WHEN ((NEW.revoked_at IS NOT NULL AND OLD.revoked_at IS NULL) OR NEW.expires_at < OLD.expires_at
        OR NEW.user_id IS DISTINCT FROM OLD.user_id)
  EXECUTE FUNCTION auth.session_revoked();
CREATE TRIGGER sessions_revoked_delete AFTER DELETE ON auth.sessions
  FOR EACH ROW EXECUTE FUNCTION auth.session_revoked();
