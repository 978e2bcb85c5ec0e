-- The cut-over's rollback window (see migrations/auth/0006). The embedded
-- database is always mana's own: it starts finalized.
CREATE TABLE auth_mana_cutover (
  id           INTEGER PRIMARY KEY CHECK (id = 1),
  state        TEXT NOT NULL CHECK (state IN ('window', 'finalized')),
  entered_at   TEXT NOT NULL,
  finalized_at TEXT
);
INSERT INTO auth_mana_cutover (id, state, entered_at) VALUES (1, 'finalized', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
