-- The second-factor row by user, and the credential read by user and
-- provider (sessions and accounts by user are indexed since 0001).
CREATE INDEX IF NOT EXISTS auth_two_factor_auth_user_id_idx ON auth_two_factor_auth (user_id);
CREATE INDEX IF NOT EXISTS auth_accounts_user_id_provider_idx ON auth_accounts (user_id, provider_id);
-- Whether any password is not argon2id (sign-in timing padding).
CREATE INDEX IF NOT EXISTS auth_accounts_legacy_password_idx ON auth_accounts (id)
  WHERE password IS NOT NULL AND password NOT LIKE '$argon2id$%';
