-- Per-notification delivery options (emailOptions, pushOptions, webhookOptions
-- of the request). The old service kept them only in its in-memory queue, so a
-- re-driven or scheduled notification lost them; a new nullable column keeps
-- them with the row. No existing column changes meaning.
ALTER TABLE notify.notifications ADD COLUMN IF NOT EXISTS options jsonb;

-- Operators list failures (GET /api/v1/notifications?status=failed) newest first.
CREATE INDEX IF NOT EXISTS idx_notifications_status_updated ON notify.notifications (status, updated_at DESC);
-- Devices of a user are looked up for every push to a userId.
CREATE INDEX IF NOT EXISTS idx_devices_user_active ON notify.devices (user_id) WHERE is_active;
