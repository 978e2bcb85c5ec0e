-- The auth schema of the system we replace (seed contract §6.1), written so that it
-- adopts an existing database: every object is created only when it is missing.
CREATE SCHEMA IF NOT EXISTS auth;

DO $$ BEGIN
  CREATE TYPE auth.user_role AS ENUM ('user', 'admin', 'service');
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
DO $$ BEGIN
  CREATE TYPE auth.access_tier AS ENUM ('guest', 'public', 'beta', 'alpha', 'founder');
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
DO $$ BEGIN
  CREATE TYPE auth.user_kind AS ENUM ('human', 'persona', 'system');
EXCEPTION WHEN duplicate_object THEN NULL; END $$;

CREATE TABLE IF NOT EXISTS auth.users (
  id                      text PRIMARY KEY,
  name                    text NOT NULL,
  email                   text NOT NULL,
  email_verified          boolean NOT NULL DEFAULT false,
  image                   text,
  created_at              timestamptz NOT NULL DEFAULT now(),
  updated_at              timestamptz NOT NULL DEFAULT now(),
  role                    auth.user_role NOT NULL DEFAULT 'user',
  access_tier             auth.access_tier NOT NULL DEFAULT 'public',
  kind                    auth.user_kind NOT NULL DEFAULT 'human',
  two_factor_enabled      boolean DEFAULT false,
  deleted_at              timestamptz,
  onboarding_completed_at timestamptz,
  feedback_show_real_name boolean NOT NULL DEFAULT false,
  feedback_karma          integer NOT NULL DEFAULT 0,
  CONSTRAINT users_email_unique UNIQUE (email)
);

CREATE TABLE IF NOT EXISTS auth.sessions (
  id                       text PRIMARY KEY,
  expires_at               timestamptz NOT NULL,
  token                    text NOT NULL,
  created_at               timestamptz NOT NULL DEFAULT now(),
  updated_at               timestamptz NOT NULL DEFAULT now(),
  ip_address               text,
  user_agent               text,
  user_id                  text NOT NULL,
  refresh_token            text,
  refresh_token_expires_at timestamptz,
  device_id                text,
  device_name              text,
  last_activity_at         timestamptz DEFAULT now(),
  revoked_at               timestamptz,
  remember_me              boolean DEFAULT false,
  CONSTRAINT sessions_token_unique UNIQUE (token),
  CONSTRAINT sessions_refresh_token_unique UNIQUE (refresh_token),
  CONSTRAINT sessions_user_id_users_id_fk FOREIGN KEY (user_id) REFERENCES auth.users (id) ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS auth.accounts (
  id                       text PRIMARY KEY,
  account_id               text NOT NULL,
  provider_id              text NOT NULL,
  user_id                  text NOT NULL,
  access_token             text,
  refresh_token            text,
  id_token                 text,
  access_token_expires_at  timestamptz,
  refresh_token_expires_at timestamptz,
  scope                    text,
  password                 text,
  created_at               timestamptz NOT NULL DEFAULT now(),
  updated_at               timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT accounts_user_id_users_id_fk FOREIGN KEY (user_id) REFERENCES auth.users (id) ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS auth.verification (
  id         text PRIMARY KEY,
  identifier text NOT NULL,
  value      text NOT NULL,
  expires_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS verification_identifier_idx ON auth.verification (identifier);

CREATE TABLE IF NOT EXISTS auth.jwks (
  id          text PRIMARY KEY,
  public_key  text NOT NULL,
  private_key text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS auth.login_attempts (
  id           serial PRIMARY KEY,
  email        text NOT NULL,
  ip_address   text,
  successful   boolean NOT NULL DEFAULT false,
  attempted_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS login_attempts_email_attempted_at_idx ON auth.login_attempts (email, attempted_at);

CREATE TABLE IF NOT EXISTS auth.security_events (
  id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id    text,
  event_type text NOT NULL,
  ip_address text,
  user_agent text,
  metadata   jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT security_events_user_id_users_id_fk FOREIGN KEY (user_id) REFERENCES auth.users (id) ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS auth.encryption_vaults (
  user_id                 text PRIMARY KEY,
  wrapped_mk              text,
  wrap_iv                 text,
  format_version          smallint NOT NULL DEFAULT 1,
  kek_id                  text NOT NULL DEFAULT 'env-v1',
  recovery_wrapped_mk     text,
  recovery_iv             text,
  recovery_format_version smallint NOT NULL DEFAULT 1,
  recovery_set_at         timestamptz,
  zero_knowledge          boolean NOT NULL DEFAULT false,
  created_at              timestamptz NOT NULL DEFAULT now(),
  rotated_at              timestamptz,
  CONSTRAINT encryption_vaults_user_id_users_id_fk FOREIGN KEY (user_id) REFERENCES auth.users (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS encryption_vaults_user_id_idx ON auth.encryption_vaults (user_id);

CREATE TABLE IF NOT EXISTS auth.encryption_vault_audit (
  id         text PRIMARY KEY,
  user_id    text NOT NULL,
  action     text NOT NULL,
  ip_address text,
  user_agent text,
  context    text,
  status     integer NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT encryption_vault_audit_user_id_users_id_fk FOREIGN KEY (user_id) REFERENCES auth.users (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS encryption_vault_audit_user_id_idx ON auth.encryption_vault_audit (user_id);
CREATE INDEX IF NOT EXISTS encryption_vault_audit_created_at_idx ON auth.encryption_vault_audit (created_at);

-- The personal Space tables written at sign-up by the old service (contract §9.6).
CREATE TABLE IF NOT EXISTS auth.organizations (
  id         text PRIMARY KEY,
  name       text NOT NULL,
  slug       text,
  logo       text,
  metadata   jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT organizations_slug_unique UNIQUE (slug)
);
CREATE INDEX IF NOT EXISTS organizations_slug_idx ON auth.organizations (slug);

CREATE TABLE IF NOT EXISTS auth.members (
  id              text PRIMARY KEY,
  organization_id text NOT NULL,
  user_id         text NOT NULL,
  role            text NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT members_organization_id_organizations_id_fk FOREIGN KEY (organization_id) REFERENCES auth.organizations (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS members_organization_id_idx ON auth.members (organization_id);
CREATE INDEX IF NOT EXISTS members_user_id_idx ON auth.members (user_id);
CREATE INDEX IF NOT EXISTS members_organization_user_idx ON auth.members (organization_id, user_id);

CREATE TABLE IF NOT EXISTS auth.two_factor_auth (
  id         text PRIMARY KEY,
  user_id    text NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
  enabled    boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now()
);
