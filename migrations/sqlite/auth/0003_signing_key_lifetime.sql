-- Signing-key lifetime (see migrations/auth/0007).
ALTER TABLE auth_jwks ADD COLUMN not_before TEXT;
ALTER TABLE auth_jwks ADD COLUMN not_after TEXT;
