-- externalId deduplication by a unique constraint rather than read-then-insert.
-- A separate table, because notify.notifications.external_id is not unique in
-- databases we take over and must keep its meaning.
CREATE TABLE IF NOT EXISTS notify.idempotency_keys (
  external_id     varchar(255) PRIMARY KEY,
  notification_id uuid NOT NULL REFERENCES notify.notifications (id) ON DELETE CASCADE,
  created_at      timestamptz NOT NULL DEFAULT now()
);
