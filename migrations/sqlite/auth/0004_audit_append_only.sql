-- Audit F19: security events append-only and tamper-evident (see
-- migrations/auth/0008). SQLite cannot drop a foreign key: the table is
-- rebuilt without it, with the same columns and indexes.
CREATE TABLE auth_security_events_f19 (
  id         TEXT PRIMARY KEY,
  user_id    TEXT,
  event_type TEXT NOT NULL,
  ip_address TEXT,
  user_agent TEXT,
  metadata   TEXT CHECK (metadata IS NULL OR json_valid(metadata)),
  created_at TEXT NOT NULL
);
INSERT INTO auth_security_events_f19 (id, user_id, event_type, ip_address, user_agent, metadata, created_at)
  SELECT id, user_id, event_type, ip_address, user_agent, metadata, created_at FROM auth_security_events;
DROP TABLE auth_security_events;
ALTER TABLE auth_security_events_f19 RENAME TO auth_security_events;
CREATE INDEX auth_security_events_user_type_idx ON auth_security_events (user_id, event_type);
CREATE INDEX auth_security_events_user_created_idx ON auth_security_events (user_id, created_at DESC);
CREATE INDEX auth_security_events_type_created_idx ON auth_security_events (event_type, created_at);
CREATE INDEX auth_security_events_metadata_email_idx ON auth_security_events (json_extract(metadata, '$.email'))
  WHERE json_extract(metadata, '$.email') IS NOT NULL;
CREATE INDEX auth_security_events_created_id_idx ON auth_security_events (created_at, id);

CREATE TABLE auth_security_event_seals (
  seq        INTEGER PRIMARY KEY,
  event_id   TEXT NOT NULL UNIQUE,
  pii_salt   BLOB,
  pii_digest BLOB NOT NULL,
  link       BLOB NOT NULL,
  sealed_at  TEXT NOT NULL
);

-- SQLite has no TRUNCATE; DELETE is refused always, UPDATE unless it erases.
CREATE TRIGGER auth_security_events_delete_guard BEFORE DELETE ON auth_security_events
BEGIN
  SELECT RAISE(ABORT, 'auth_security_events is append-only: DELETE refused');
END;
CREATE TRIGGER auth_security_events_update_guard BEFORE UPDATE ON auth_security_events
  WHEN NOT (NEW.id IS OLD.id AND NEW.user_id IS OLD.user_id AND NEW.event_type IS OLD.event_type
        AND NEW.created_at IS OLD.created_at AND NEW.ip_address IS NULL AND NEW.user_agent IS NULL
        AND (NEW.metadata IS NULL OR json(NEW.metadata) = '{}'))
BEGIN
  SELECT RAISE(ABORT, 'auth_security_events is append-only: UPDATE refused (only erasing ip_address, user_agent and metadata is allowed)');
END;
CREATE TRIGGER auth_security_event_seals_delete_guard BEFORE DELETE ON auth_security_event_seals
BEGIN
  SELECT RAISE(ABORT, 'auth_security_event_seals is append-only: DELETE refused');
END;
CREATE TRIGGER auth_security_event_seals_update_guard BEFORE UPDATE ON auth_security_event_seals
  WHEN NOT (NEW.seq IS OLD.seq AND NEW.event_id IS OLD.event_id AND NEW.pii_digest IS OLD.pii_digest
        AND NEW.link IS OLD.link AND NEW.sealed_at IS OLD.sealed_at AND NEW.pii_salt IS NULL)
BEGIN
  SELECT RAISE(ABORT, 'auth_security_event_seals is append-only: UPDATE refused (only shredding pii_salt is allowed)');
END;
