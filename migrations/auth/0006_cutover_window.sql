-- The cut-over's rollback window (issue 12). While a database the old service
-- wrote is in the window, mana writes only what the old service can read, so
-- an operator can go back to it; `mana cutover finalize` ends the window.
-- One row. A database whose auth schema mana did not create (the old
-- service's; Migrate sets mana.auth_preexisting when it finds the schema
-- before its first migration), or one that still holds the old service's
-- formats, starts in the window; one mana created starts finalized.
CREATE TABLE IF NOT EXISTS auth.mana_cutover (
  id           smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
  state        text NOT NULL CHECK (state IN ('window', 'finalized')),
  entered_at   timestamptz NOT NULL DEFAULT now(),
  finalized_at timestamptz
);

INSERT INTO auth.mana_cutover (id, state)
SELECT 1, CASE WHEN coalesce(current_setting('mana.auth_preexisting', true), '') = 'on'
    OR EXISTS (SELECT 1 FROM auth.accounts WHERE password ~ '^[0-9a-f]{32}:[0-9a-f]{128}$')
    OR EXISTS (SELECT 1 FROM auth.jwks WHERE kek_id IS NULL)
  THEN 'window' ELSE 'finalized' END
ON CONFLICT (id) DO NOTHING;
