-- Which wrap scheme a vault row's server wrap uses (DESIGN.md §5 item 8):
-- 1 = the old service's AES-256-GCM without associated data, 2 = the owner's
-- user id bound as associated data. The default is 1 so that rows the old
-- service writes (it does not know this column) are read correctly.
-- format_version keeps its meaning: the client-visible key format, still 1.
ALTER TABLE auth.encryption_vaults ADD COLUMN IF NOT EXISTS wrap_scheme smallint NOT NULL DEFAULT 1;
DO $$ BEGIN
  ALTER TABLE auth.encryption_vaults ADD CONSTRAINT encryption_vaults_wrap_scheme_known CHECK (wrap_scheme IN (1, 2));
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
