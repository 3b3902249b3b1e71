-- Organization API keys. Only a SHA-256 of the key is stored, with a short public prefix to find it; the key itself is
-- shown once, when it is created. Format: cck_<12 hex prefix>_<64 hex secret>.

create table public.api_keys (
  id uuid primary key default gen_random_uuid(),
  organization_id uuid not null references public.organizations (id) on delete cascade,
  name text not null check (length(name) between 1 and 100),
  prefix text not null unique check (prefix ~ '^[0-9a-f]{12}$'),
  key_hash text not null check (key_hash ~ '^[0-9a-f]{64}$'),
  created_by uuid references auth.users (id) on delete set null,
  created_at timestamptz not null default now(),
  last_used_at timestamptz,
  revoked_at timestamptz
);
create index api_keys_organization_idx on public.api_keys (organization_id);

alter table public.api_keys enable row level security;
revoke all on table public.api_keys from anon, authenticated;
-- Never the hash: not even the organization's admins read it back.
grant select (id, organization_id, name, prefix, created_by, created_at, last_used_at, revoked_at)
  on table public.api_keys to authenticated;
grant insert (organization_id, name, prefix, key_hash, created_by) on table public.api_keys to authenticated;
grant update (name, revoked_at) on table public.api_keys to authenticated;
grant delete on table public.api_keys to authenticated;
grant all on table public.api_keys to service_role;

create policy api_keys_managed_by_admins on public.api_keys
  for all to authenticated
  using (organization_id in (select private.organizations_of_caller('{owner,admin}')))
  with check (organization_id in (select private.organizations_of_caller('{owner,admin}')));

-- RPC: an owner or admin creates a key; the only time the key is ever returned.
create function public.create_api_key(organization_id uuid, name text)
returns text
language plpgsql security invoker
set search_path = ''
as $$
declare
  key_prefix text := substr(replace(gen_random_uuid()::text, '-', ''), 1, 12);
  -- Two v4 UUIDs from the server's strong random source: 244 random bits.
  secret text := replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', '');
  api_key text := 'cck_' || key_prefix || '_' || secret;
begin
  insert into public.api_keys (organization_id, name, prefix, key_hash, created_by)
  values (create_api_key.organization_id, create_api_key.name, key_prefix,
          encode(sha256(convert_to(api_key, 'UTF8')), 'hex'), (select auth.uid()));
  return api_key;
end
$$;
revoke all on function public.create_api_key(uuid, text) from public, anon, authenticated, service_role;
grant execute on function public.create_api_key(uuid, text) to authenticated, service_role;

-- RPC: an owner or admin revokes a key (at once: the functions look keys up on every request). False when the key
-- does not exist, is already revoked, or is not the caller's to revoke.
create function public.revoke_api_key(key_id uuid)
returns boolean
language sql security invoker
set search_path = ''
as $$
  with revoked as (
    update public.api_keys k set revoked_at = now()
    where k.id = revoke_api_key.key_id and k.revoked_at is null
    returning 1
  )
  select exists (select from revoked)
$$;
revoke all on function public.revoke_api_key(uuid) from public, anon, authenticated, service_role;
grant execute on function public.revoke_api_key(uuid) to authenticated, service_role;

-- RPC for the functions: the organization behind a presented key (found by prefix, matched by hash), unless revoked.
-- last_used_at is refreshed at most once a minute, so that authenticating is a read nearly always.
create function public.authenticate_api_key(key_prefix text, key_hash text)
returns table (key_id uuid, organization_id uuid, tier public.tier)
language sql security invoker
set search_path = ''
as $$
  with found as (
    select k.id, k.organization_id, o.tier, k.last_used_at
    from public.api_keys k
    join public.organizations o on o.id = k.organization_id
    where k.prefix = authenticate_api_key.key_prefix
      and k.key_hash = authenticate_api_key.key_hash
      and k.revoked_at is null
  ), touched as (
    update public.api_keys k set last_used_at = now()
    from found
    where k.id = found.id and (found.last_used_at is null or found.last_used_at < now() - interval '1 minute')
  )
  select found.id, found.organization_id, found.tier from found
$$;
revoke all on function public.authenticate_api_key(text, text) from public, anon, authenticated, service_role;
grant execute on function public.authenticate_api_key(text, text) to service_role;
