-- The notify schema of the service we replace (seed contract §6.2), idempotent.
CREATE SCHEMA IF NOT EXISTS notify;

DO $$ BEGIN
  CREATE TYPE notify.channel_type AS ENUM ('email', 'push', 'webhook');
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
DO $$ BEGIN
  CREATE TYPE notify.notification_status AS ENUM ('pending', 'processing', 'delivered', 'failed', 'cancelled');
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
DO $$ BEGIN
  CREATE TYPE notify.priority_type AS ENUM ('low', 'normal', 'high', 'critical');
EXCEPTION WHEN duplicate_object THEN NULL; END $$;

CREATE TABLE IF NOT EXISTS notify.notifications (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id       text,
  app_id        varchar(50) NOT NULL,
  channel       notify.channel_type NOT NULL,
  template_id   varchar(100),
  subject       varchar(500),
  body          text,
  data          jsonb,
  status        notify.notification_status NOT NULL DEFAULT 'pending',
  priority      notify.priority_type NOT NULL DEFAULT 'normal',
  scheduled_for timestamptz,
  recipient     varchar(500),
  external_id   varchar(255),
  attempts      integer NOT NULL DEFAULT 0,
  delivered_at  timestamptz,
  error_message text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS idx_notifications_user_id ON notify.notifications (user_id);
CREATE INDEX IF NOT EXISTS idx_notifications_app_id ON notify.notifications (app_id);
CREATE INDEX IF NOT EXISTS idx_notifications_status ON notify.notifications (status);
CREATE INDEX IF NOT EXISTS idx_notifications_scheduled_for ON notify.notifications (scheduled_for);
CREATE INDEX IF NOT EXISTS idx_notifications_external_id ON notify.notifications (external_id);

CREATE TABLE IF NOT EXISTS notify.templates (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  slug          varchar(100) NOT NULL,
  app_id        varchar(50),
  channel       notify.channel_type NOT NULL,
  subject       varchar(500),
  body_template text NOT NULL,
  locale        varchar(10) NOT NULL DEFAULT 'de-DE',
  is_active     boolean NOT NULL DEFAULT true,
  is_system     boolean NOT NULL DEFAULT false,
  variables     jsonb,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  UNIQUE (slug, locale)
);
CREATE INDEX IF NOT EXISTS idx_templates_app_id ON notify.templates (app_id);
CREATE INDEX IF NOT EXISTS idx_templates_channel ON notify.templates (channel);

CREATE TABLE IF NOT EXISTS notify.devices (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id      text NOT NULL,
  push_token   text NOT NULL UNIQUE,
  token_type   varchar(20) NOT NULL DEFAULT 'expo',
  platform     varchar(20),
  device_name  varchar(100),
  app_id       varchar(50),
  is_active    boolean NOT NULL DEFAULT true,
  last_seen_at timestamptz,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS idx_devices_user_id ON notify.devices (user_id);

CREATE TABLE IF NOT EXISTS notify.preferences (
  id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id              text NOT NULL UNIQUE,
  email_enabled        boolean NOT NULL DEFAULT false,
  push_enabled         boolean NOT NULL DEFAULT true,
  quiet_hours_enabled  boolean NOT NULL DEFAULT false,
  quiet_hours_start    varchar(5),
  quiet_hours_end      varchar(5),
  timezone             varchar(50) NOT NULL DEFAULT 'Europe/Berlin',
  category_preferences jsonb,
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS notify.delivery_logs (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  notification_id uuid NOT NULL REFERENCES notify.notifications (id) ON DELETE CASCADE,
  attempt_number  integer NOT NULL,
  channel         notify.channel_type NOT NULL,
  success         boolean NOT NULL,
  status_code     integer,
  error_message   text,
  provider_id     varchar(255),
  duration_ms     integer,
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS idx_delivery_logs_notification_id ON notify.delivery_logs (notification_id);
CREATE INDEX IF NOT EXISTS idx_delivery_logs_success ON notify.delivery_logs (success);
