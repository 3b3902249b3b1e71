-- Rolls back 20261126090200_api_keys.sql.
drop function if exists public.authenticate_api_key(text, text);
drop function if exists public.create_api_key(uuid, text);
drop function if exists public.revoke_api_key(uuid);
drop table if exists public.api_keys;
