-- Audit F19 (LOG-06, LOG-07, PRIV-07): auth.security_events becomes
-- append-only and tamper-evident, reconciled with erasure.
--
-- * The foreign key to auth.users goes: a deleted user's events stay, keeping
--   only the pseudonymous user id (their PII is erased, see below).
-- * Triggers refuse DELETE and TRUNCATE always, and any UPDATE except an
--   erasure (identity unchanged; ip_address, user_agent NULL; metadata empty).
-- * auth.security_event_seals holds the hash chain (internal/audit/chain.go),
--   written by the background sealer; its salt may only be shredded.
-- * auth.pseudonymise_security_events is the one way to erase (account
--   deletion): SECURITY DEFINER, so the service's role needs no UPDATE right
--   on either table (the operator's recipe in docs/security.md, F19).

ALTER TABLE auth.security_events DROP CONSTRAINT IF EXISTS security_events_user_id_users_id_fk;

-- The sealer reads unsealed events in (created_at, id) order from a bound.
CREATE INDEX IF NOT EXISTS security_events_created_id_idx ON auth.security_events (created_at, id);

CREATE TABLE IF NOT EXISTS auth.security_event_seals (
  seq        bigint PRIMARY KEY,
  event_id   uuid NOT NULL UNIQUE,
  -- NULL once the event's PII was erased (the salt is shredded with it).
  pii_salt   bytea,
  pii_digest bytea NOT NULL,
  link       bytea NOT NULL,
  sealed_at  timestamptz NOT NULL DEFAULT now()
);

CREATE OR REPLACE FUNCTION auth.security_events_guard() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    IF NEW.id = OLD.id AND NEW.user_id IS NOT DISTINCT FROM OLD.user_id
       AND NEW.event_type = OLD.event_type AND NEW.created_at = OLD.created_at
       AND NEW.ip_address IS NULL AND NEW.user_agent IS NULL
       AND (NEW.metadata IS NULL OR NEW.metadata = '{}'::jsonb) THEN
      RETURN NEW;
    END IF;
  END IF;
  RAISE EXCEPTION 'auth.security_events is append-only: % refused (only erasing ip_address, user_agent and metadata is allowed)', TG_OP;
END $$;

CREATE OR REPLACE FUNCTION auth.security_event_seals_guard() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    IF NEW.seq = OLD.seq AND NEW.event_id = OLD.event_id AND NEW.pii_digest = OLD.pii_digest
       AND NEW.link = OLD.link AND NEW.sealed_at = OLD.sealed_at AND NEW.pii_salt IS NULL THEN
      RETURN NEW;
    END IF;
  END IF;
  RAISE EXCEPTION 'auth.security_event_seals is append-only: % refused (only shredding pii_salt is allowed)', TG_OP;
END $$;

DROP TRIGGER IF EXISTS security_events_update_guard ON auth.security_events;
CREATE TRIGGER security_events_update_guard BEFORE UPDATE ON auth.security_events
  FOR EACH ROW EXECUTE FUNCTION auth.security_events_guard();
-- Statement-level: even a DELETE that matches no row is refused.
DROP TRIGGER IF EXISTS security_events_delete_guard ON auth.security_events;
CREATE TRIGGER security_events_delete_guard BEFORE DELETE OR TRUNCATE ON auth.security_events
  FOR EACH STATEMENT EXECUTE FUNCTION auth.security_events_guard();
DROP TRIGGER IF EXISTS security_event_seals_update_guard ON auth.security_event_seals;
CREATE TRIGGER security_event_seals_update_guard BEFORE UPDATE ON auth.security_event_seals
  FOR EACH ROW EXECUTE FUNCTION auth.security_event_seals_guard();
DROP TRIGGER IF EXISTS security_event_seals_delete_guard ON auth.security_event_seals;
CREATE TRIGGER security_event_seals_delete_guard BEFORE DELETE OR TRUNCATE ON auth.security_event_seals
  FOR EACH STATEMENT EXECUTE FUNCTION auth.security_event_seals_guard();

-- Erases the PII (ip_address, user_agent, metadata) of the user's events and
-- of events without a user id that name the address, and shreds their seals'
-- salts. It takes the sealer's advisory lock (pg.AuditSealLockKey, "mana_aud")
-- so that no seal is computed from a row it is erasing: a running batch is
-- waited for, and the sealer skips its tick while a deletion is open. The
-- seals are updated in a second statement, whose fresh snapshot sees every
-- seal committed before the lock was granted.
CREATE OR REPLACE FUNCTION auth.pseudonymise_security_events(p_user_id text, p_email text) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  erased uuid[];
BEGIN
  PERFORM pg_advisory_xact_lock(7881702187366184292);
  WITH e AS (
    UPDATE auth.security_events
       SET ip_address = NULL, user_agent = NULL, metadata = '{}'::jsonb
     WHERE user_id = p_user_id
        OR (user_id IS NULL AND p_email <> '' AND metadata ? 'email' AND metadata ->> 'email' = p_email)
    RETURNING id)
  SELECT coalesce(array_agg(id), '{}') INTO erased FROM e;
  UPDATE auth.security_event_seals SET pii_salt = NULL
   WHERE event_id = ANY (erased) AND pii_salt IS NOT NULL;
  RETURN cardinality(erased);
END $$;

REVOKE ALL ON FUNCTION auth.pseudonymise_security_events(text, text) FROM PUBLIC;
REVOKE UPDATE, DELETE, TRUNCATE ON auth.security_events, auth.security_event_seals FROM PUBLIC;
