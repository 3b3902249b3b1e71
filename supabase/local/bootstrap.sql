-- Makes a plain PostgreSQL cluster look like a Supabase project where our migrations rely on it, so that the very
-- same migrations run here (tests, `make run`) and on Supabase unchanged. Never run this against a Supabase project:
-- there, all of it already exists. Idempotent: safe to run on every start.
--
-- What it recreates, as Supabase defines it:
--   * the API roles: anon and authenticated (NOLOGIN; PostgREST switches to them per request), service_role (NOLOGIN,
--     BYPASSRLS: the functions' role), and authenticator (LOGIN NOINHERIT, may switch to the three);
--   * the auth schema: auth.users (the columns our foreign keys and tests use), auth.uid(), auth.role(), auth.jwt(),
--     which read the request.jwt.claims setting exactly as Supabase's do;
--   * Supabase's default privileges on the public schema: every new table, sequence and function there is granted to
--     anon, authenticated and service_role. This is what makes a table without RLS readable by anyone on Supabase, and
--     the reason our migrations enable RLS on every table and revoke EXECUTE from functions the API must not call.

do $$
begin
  if not exists (select from pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
  if not exists (select from pg_roles where rolname = 'authenticator') then
    create role authenticator login noinherit;
  end if;
end
$$;

grant anon, authenticated, service_role to authenticator;
grant usage on schema public to anon, authenticated, service_role;

alter default privileges in schema public grant all on tables to anon, authenticated, service_role;
alter default privileges in schema public grant all on sequences to anon, authenticated, service_role;
alter default privileges in schema public grant all on functions to anon, authenticated, service_role;

create schema if not exists auth;
grant usage on schema auth to anon, authenticated, service_role;

create table if not exists auth.users (
  id uuid primary key default gen_random_uuid(),
  email text unique,
  raw_user_meta_data jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now()
);
grant select on auth.users to service_role;

create or replace function auth.jwt() returns jsonb
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')
  )::jsonb
$$;

create or replace function auth.uid() returns uuid
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
  )::uuid
$$;

create or replace function auth.role() returns text
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.role', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
  )::text
$$;

grant execute on function auth.jwt(), auth.uid(), auth.role() to anon, authenticated, service_role;

-- Where the Supabase CLI records applied migrations; our local runner writes the same table.
create schema if not exists supabase_migrations;
create table if not exists supabase_migrations.schema_migrations (
  version text primary key,
  statements text[],
  name text
);
