-- mana-notify on SQLite: the tables of migrations/notify/0001..0003 (Postgres
-- schema notify) in one file, prefixed notify_. Enums are TEXT with a CHECK,
-- booleans INTEGER 0/1, JSON TEXT checked with json_valid, uuids TEXT made in
-- Go. Timestamps are fixed-width TEXT bound from Go (sqlitedb.FormatTime) and
-- have no SQL default, so text order is time order.

CREATE TABLE notify_notifications (
  id            TEXT PRIMARY KEY,
  user_id       TEXT,
  app_id        TEXT NOT NULL CHECK (length(app_id) <= 50),
  channel       TEXT NOT NULL CHECK (channel IN ('email', 'push', 'webhook')),
  template_id   TEXT CHECK (length(template_id) <= 100),
  subject       TEXT CHECK (length(subject) <= 500),
  body          TEXT,
  data          TEXT CHECK (json_valid(data)),
  status        TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'processing', 'delivered', 'failed', 'cancelled')),
  priority      TEXT NOT NULL DEFAULT 'normal' CHECK (priority IN ('low', 'normal', 'high', 'critical')),
  scheduled_for TEXT,
  recipient     TEXT CHECK (length(recipient) <= 500),
  external_id   TEXT CHECK (length(external_id) <= 255),
  attempts      INTEGER NOT NULL DEFAULT 0,
  delivered_at  TEXT,
  error_message TEXT,
  created_at    TEXT NOT NULL,
  updated_at    TEXT NOT NULL,
  -- Per-notification delivery options (Postgres migration 0003).
  options       TEXT CHECK (json_valid(options))
);
CREATE INDEX idx_notify_notifications_user_id ON notify_notifications (user_id);
CREATE INDEX idx_notify_notifications_app_id ON notify_notifications (app_id);
CREATE INDEX idx_notify_notifications_scheduled_for ON notify_notifications (scheduled_for);
CREATE INDEX idx_notify_notifications_external_id ON notify_notifications (external_id);
CREATE INDEX idx_notify_notifications_status_updated ON notify_notifications (status, updated_at DESC);

-- externalId deduplication by a unique key (Postgres migration 0002).
CREATE TABLE notify_idempotency_keys (
  external_id     TEXT PRIMARY KEY CHECK (length(external_id) <= 255),
  notification_id TEXT NOT NULL REFERENCES notify_notifications (id) ON DELETE CASCADE,
  created_at      TEXT NOT NULL
);
CREATE INDEX idx_notify_idempotency_keys_notification ON notify_idempotency_keys (notification_id);

CREATE TABLE notify_templates (
  id            TEXT PRIMARY KEY,
  slug          TEXT NOT NULL CHECK (length(slug) <= 100),
  app_id        TEXT CHECK (length(app_id) <= 50),
  channel       TEXT NOT NULL CHECK (channel IN ('email', 'push', 'webhook')),
  subject       TEXT CHECK (length(subject) <= 500),
  body_template TEXT NOT NULL,
  locale        TEXT NOT NULL DEFAULT 'de-DE' CHECK (length(locale) <= 10),
  is_active     INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
  is_system     INTEGER NOT NULL DEFAULT 0 CHECK (is_system IN (0, 1)),
  variables     TEXT CHECK (json_valid(variables)),
  created_at    TEXT NOT NULL,
  updated_at    TEXT NOT NULL,
  UNIQUE (slug, locale)
);
CREATE INDEX idx_notify_templates_app_id ON notify_templates (app_id);
CREATE INDEX idx_notify_templates_channel ON notify_templates (channel);

CREATE TABLE notify_devices (
  id           TEXT PRIMARY KEY,
  user_id      TEXT NOT NULL,
  push_token   TEXT NOT NULL UNIQUE,
  token_type   TEXT NOT NULL DEFAULT 'expo' CHECK (length(token_type) <= 20),
  platform     TEXT CHECK (length(platform) <= 20),
  device_name  TEXT CHECK (length(device_name) <= 100),
  app_id       TEXT CHECK (length(app_id) <= 50),
  is_active    INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
  last_seen_at TEXT,
  created_at   TEXT NOT NULL,
  updated_at   TEXT NOT NULL
);
CREATE INDEX idx_notify_devices_user_active ON notify_devices (user_id) WHERE is_active = 1;

CREATE TABLE notify_preferences (
  id                   TEXT PRIMARY KEY,
  user_id              TEXT NOT NULL UNIQUE,
  email_enabled        INTEGER NOT NULL DEFAULT 0 CHECK (email_enabled IN (0, 1)),
  push_enabled         INTEGER NOT NULL DEFAULT 1 CHECK (push_enabled IN (0, 1)),
  quiet_hours_enabled  INTEGER NOT NULL DEFAULT 0 CHECK (quiet_hours_enabled IN (0, 1)),
  quiet_hours_start    TEXT CHECK (length(quiet_hours_start) <= 5),
  quiet_hours_end      TEXT CHECK (length(quiet_hours_end) <= 5),
  timezone             TEXT NOT NULL DEFAULT 'Europe/Berlin' CHECK (length(timezone) <= 50),
  category_preferences TEXT CHECK (json_valid(category_preferences)),
  created_at           TEXT NOT NULL,
  updated_at           TEXT NOT NULL
);

CREATE TABLE notify_delivery_logs (
  id              TEXT PRIMARY KEY,
  notification_id TEXT NOT NULL REFERENCES notify_notifications (id) ON DELETE CASCADE,
  attempt_number  INTEGER NOT NULL,
  channel         TEXT NOT NULL CHECK (channel IN ('email', 'push', 'webhook')),
  success         INTEGER NOT NULL CHECK (success IN (0, 1)),
  status_code     INTEGER,
  error_message   TEXT,
  provider_id     TEXT CHECK (length(provider_id) <= 255),
  duration_ms     INTEGER,
  created_at      TEXT NOT NULL
);
CREATE INDEX idx_notify_delivery_logs_notification_id ON notify_delivery_logs (notification_id);
CREATE INDEX idx_notify_delivery_logs_success ON notify_delivery_logs (success);
