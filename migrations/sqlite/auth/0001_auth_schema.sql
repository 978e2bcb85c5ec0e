-- The auth schema of the embedded SQLite backend: the equivalent of
-- migrations/auth/0001..0005 (Postgres), one file. Postgres enums become TEXT
-- with a CHECK, booleans INTEGER 0/1, jsonb TEXT checked by json_valid,
-- bytea BLOB, timestamptz TEXT written by sqlitedb.FormatTime (no SQL
-- defaults on timestamps: every one is bound from Go). Row-level security has
-- no SQLite equivalent: the vault store scopes every statement to the user id
-- itself (see internal/store/sqlite/vault.go).

CREATE TABLE auth_users (
  id                      TEXT PRIMARY KEY,
  name                    TEXT NOT NULL,
  email                   TEXT NOT NULL,
  email_verified          INTEGER NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1)),
  image                   TEXT,
  created_at              TEXT NOT NULL,
  updated_at              TEXT NOT NULL,
  role                    TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin', 'service')),
  access_tier             TEXT NOT NULL DEFAULT 'public' CHECK (access_tier IN ('guest', 'public', 'beta', 'alpha', 'founder')),
  kind                    TEXT NOT NULL DEFAULT 'human' CHECK (kind IN ('human', 'persona', 'system')),
  two_factor_enabled      INTEGER DEFAULT 0 CHECK (two_factor_enabled IN (0, 1)),
  deleted_at              TEXT,
  onboarding_completed_at TEXT,
  feedback_show_real_name INTEGER NOT NULL DEFAULT 0 CHECK (feedback_show_real_name IN (0, 1)),
  feedback_karma          INTEGER NOT NULL DEFAULT 0,
  CONSTRAINT users_email_unique UNIQUE (email)
);

CREATE TABLE auth_sessions (
  id                       TEXT PRIMARY KEY,
  expires_at               TEXT NOT NULL,
  token                    TEXT NOT NULL,
  created_at               TEXT NOT NULL,
  updated_at               TEXT NOT NULL,
  ip_address               TEXT,
  user_agent               TEXT,
  user_id                  TEXT NOT NULL,
  refresh_token            TEXT,
  refresh_token_expires_at TEXT,
  device_id                TEXT,
  device_name              TEXT,
  last_activity_at         TEXT,
  revoked_at               TEXT,
  remember_me              INTEGER DEFAULT 0 CHECK (remember_me IN (0, 1)),
  CONSTRAINT sessions_token_unique UNIQUE (token),
  CONSTRAINT sessions_refresh_token_unique UNIQUE (refresh_token),
  CONSTRAINT sessions_user_id_users_id_fk FOREIGN KEY (user_id) REFERENCES auth_users (id) ON DELETE CASCADE
);
CREATE INDEX auth_sessions_user_id_idx ON auth_sessions (user_id);

CREATE TABLE auth_accounts (
  id                       TEXT PRIMARY KEY,
  account_id               TEXT NOT NULL,
  provider_id              TEXT NOT NULL,
  user_id                  TEXT NOT NULL,
  access_token             TEXT,
  refresh_token            TEXT,
  id_token                 TEXT,
  access_token_expires_at  TEXT,
  refresh_token_expires_at TEXT,
  scope                    TEXT,
  password                 TEXT,
  created_at               TEXT NOT NULL,
  updated_at               TEXT NOT NULL,
  CONSTRAINT accounts_user_id_users_id_fk FOREIGN KEY (user_id) REFERENCES auth_users (id) ON DELETE CASCADE
);
CREATE INDEX auth_accounts_user_id_idx ON auth_accounts (user_id);

-- The old service's reset rows: no code path writes them, account deletion
-- still clears any imported ones.
CREATE TABLE auth_verification (
  id         TEXT PRIMARY KEY,
  identifier TEXT NOT NULL,
  value      TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX auth_verification_identifier_idx ON auth_verification (identifier);
CREATE INDEX auth_verification_value_idx ON auth_verification (value);

CREATE TABLE auth_jwks (
  id          TEXT PRIMARY KEY,
  public_key  TEXT NOT NULL,
  private_key TEXT NOT NULL,
  created_at  TEXT NOT NULL,
  kek_id      TEXT
);

-- id is an INTEGER PRIMARY KEY (SQLite's serial): never supplied by the code.
CREATE TABLE auth_login_attempts (
  id           INTEGER PRIMARY KEY,
  email        TEXT NOT NULL,
  ip_address   TEXT,
  successful   INTEGER NOT NULL DEFAULT 0 CHECK (successful IN (0, 1)),
  attempted_at TEXT NOT NULL
);
CREATE INDEX auth_login_attempts_email_attempted_at_idx ON auth_login_attempts (email, attempted_at);

CREATE TABLE auth_security_events (
  id         TEXT PRIMARY KEY,
  user_id    TEXT,
  event_type TEXT NOT NULL,
  ip_address TEXT,
  user_agent TEXT,
  metadata   TEXT CHECK (metadata IS NULL OR json_valid(metadata)),
  created_at TEXT NOT NULL,
  CONSTRAINT security_events_user_id_users_id_fk FOREIGN KEY (user_id) REFERENCES auth_users (id) ON DELETE CASCADE
);
CREATE INDEX auth_security_events_user_type_idx ON auth_security_events (user_id, event_type);
CREATE INDEX auth_security_events_user_created_idx ON auth_security_events (user_id, created_at DESC);
CREATE INDEX auth_security_events_type_created_idx ON auth_security_events (event_type, created_at);
CREATE INDEX auth_security_events_metadata_email_idx ON auth_security_events (json_extract(metadata, '$.email'))
  WHERE json_extract(metadata, '$.email') IS NOT NULL;

CREATE TABLE auth_encryption_vaults (
  user_id                 TEXT PRIMARY KEY,
  wrapped_mk              TEXT,
  wrap_iv                 TEXT,
  format_version          INTEGER NOT NULL DEFAULT 1,
  kek_id                  TEXT NOT NULL DEFAULT 'env-v1',
  recovery_wrapped_mk     TEXT,
  recovery_iv             TEXT,
  recovery_format_version INTEGER NOT NULL DEFAULT 1,
  recovery_set_at         TEXT,
  zero_knowledge          INTEGER NOT NULL DEFAULT 0 CHECK (zero_knowledge IN (0, 1)),
  created_at              TEXT NOT NULL,
  rotated_at              TEXT,
  wrap_scheme             INTEGER NOT NULL DEFAULT 1,
  CONSTRAINT encryption_vaults_user_id_users_id_fk FOREIGN KEY (user_id) REFERENCES auth_users (id) ON DELETE CASCADE,
  CONSTRAINT encryption_vaults_has_wrap
    CHECK (wrapped_mk IS NOT NULL OR recovery_wrapped_mk IS NOT NULL),
  CONSTRAINT encryption_vaults_wrap_iv_pair
    CHECK ((wrapped_mk IS NULL) = (wrap_iv IS NULL) AND (recovery_wrapped_mk IS NULL) = (recovery_iv IS NULL)),
  CONSTRAINT encryption_vaults_zk_consistency
    CHECK (zero_knowledge = 0 OR (zero_knowledge = 1 AND wrapped_mk IS NULL AND recovery_wrapped_mk IS NOT NULL)),
  CONSTRAINT encryption_vaults_wrap_scheme_known CHECK (wrap_scheme IN (1, 2))
);

CREATE TABLE auth_encryption_vault_audit (
  id         TEXT PRIMARY KEY,
  user_id    TEXT NOT NULL,
  action     TEXT NOT NULL,
  ip_address TEXT,
  user_agent TEXT,
  context    TEXT,
  status     INTEGER NOT NULL,
  created_at TEXT NOT NULL,
  CONSTRAINT encryption_vault_audit_user_id_users_id_fk FOREIGN KEY (user_id) REFERENCES auth_users (id) ON DELETE CASCADE
);
CREATE INDEX auth_encryption_vault_audit_user_id_idx ON auth_encryption_vault_audit (user_id);
CREATE INDEX auth_encryption_vault_audit_created_at_idx ON auth_encryption_vault_audit (created_at);

-- Organizations and members: only account deletion touches them (personal spaces).
CREATE TABLE auth_organizations (
  id         TEXT PRIMARY KEY,
  name       TEXT NOT NULL,
  slug       TEXT,
  logo       TEXT,
  metadata   TEXT CHECK (metadata IS NULL OR json_valid(metadata)),
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  CONSTRAINT organizations_slug_unique UNIQUE (slug)
);

CREATE TABLE auth_members (
  id              TEXT PRIMARY KEY,
  organization_id TEXT NOT NULL,
  user_id         TEXT NOT NULL,
  role            TEXT NOT NULL,
  created_at      TEXT NOT NULL,
  CONSTRAINT members_organization_id_organizations_id_fk FOREIGN KEY (organization_id) REFERENCES auth_organizations (id) ON DELETE CASCADE
);
CREATE INDEX auth_members_user_id_idx ON auth_members (user_id);
CREATE INDEX auth_members_organization_user_idx ON auth_members (organization_id, user_id);

-- Read by the account summary (has 2FA); nothing writes it yet.
CREATE TABLE auth_two_factor_auth (
  id         TEXT PRIMARY KEY,
  user_id    TEXT NOT NULL REFERENCES auth_users (id) ON DELETE CASCADE,
  enabled    INTEGER NOT NULL DEFAULT 0 CHECK (enabled IN (0, 1)),
  created_at TEXT NOT NULL
);

CREATE TABLE auth_link_tokens (
  token_hash BLOB PRIMARY KEY,
  purpose    TEXT NOT NULL CHECK (purpose IN ('verify-email', 'reset-password')),
  user_id    TEXT NOT NULL REFERENCES auth_users (id) ON DELETE CASCADE,
  email      TEXT NOT NULL,
  reason     TEXT NOT NULL,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  used_at    TEXT
);
CREATE INDEX auth_link_tokens_user_purpose_idx ON auth_link_tokens (user_id, purpose, created_at);

CREATE TABLE auth_refresh_tokens (
  token_hash BLOB PRIMARY KEY,
  session_id TEXT NOT NULL REFERENCES auth_sessions (id) ON DELETE CASCADE,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  rotated_at TEXT
);
CREATE INDEX auth_refresh_tokens_session_idx ON auth_refresh_tokens (session_id);
