-- Signing-key lifetime (`mana jwks rotate` / `mana jwks retire`): a new key
-- is published before it signs (not_before), a retired one stops signing at
-- once and is withdrawn from the JWKS, its tokens refused, after not_after.
-- Columns only; the old service ignores them.
ALTER TABLE auth.jwks ADD COLUMN IF NOT EXISTS not_before timestamptz;
ALTER TABLE auth.jwks ADD COLUMN IF NOT EXISTS not_after timestamptz;
