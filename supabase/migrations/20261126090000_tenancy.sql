-- Tenancy: organizations (with their billing tier), profiles of auth.users, memberships with roles.
--
-- Conventions of every migration here (see the README's "State" section):
--   * RLS is enabled on every table of every schema the API exposes, and privileges are granted per role and column
--     (Supabase grants everything in public to anon and authenticated by default: we revoke first, then grant);
--   * policies name their role (TO authenticated / TO anon), read auth.uid() once per statement through
--     (select auth.uid()), and test indexed columns;
--   * helper functions that policies call are SECURITY DEFINER in the private schema (not exposed by the API), pin
--     search_path to '' and are executable by authenticated only;
--   * writes the functions make go through SQL functions (RPC), so the REST and the direct transport share them.

create schema if not exists private;
revoke all on schema private from public;
grant usage on schema private to authenticated, service_role;

create type public.tier as enum ('free', 'pro', 'b2b');
create type public.member_role as enum ('owner', 'admin', 'member');

create table public.organizations (
  id uuid primary key default gen_random_uuid(),
  name text not null check (length(name) between 1 and 200),
  tier public.tier not null default 'free',
  created_at timestamptz not null default now()
);

create table public.profiles (
  id uuid primary key references auth.users (id) on delete cascade,
  display_name text check (length(display_name) <= 200),
  created_at timestamptz not null default now()
);

create table public.memberships (
  organization_id uuid not null references public.organizations (id) on delete cascade,
  user_id uuid not null references auth.users (id) on delete cascade,
  role public.member_role not null default 'member',
  created_at timestamptz not null default now(),
  primary key (organization_id, user_id)
);
-- Policies look memberships up by user: this index serves every "my organizations" check.
create index memberships_user_idx on public.memberships (user_id, organization_id, role);

-- The organizations the calling user belongs to (optionally: with one of `roles`). SECURITY DEFINER so that policies
-- on memberships itself can use it without recursing into their own RLS.
create function private.organizations_of_caller(roles public.member_role[] default null)
returns setof uuid
language sql stable security definer
set search_path = ''
as $$
  select m.organization_id
  from public.memberships m
  where m.user_id = (select auth.uid())
    and (roles is null or m.role = any (roles))
$$;
revoke all on function private.organizations_of_caller(public.member_role[]) from public;
grant execute on function private.organizations_of_caller(public.member_role[]) to authenticated;

-- A profile for every new user (Supabase's documented pattern: a trigger on auth.users).
create function private.create_profile_for_new_user()
returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  insert into public.profiles (id, display_name)
  values (new.id, nullif(new.raw_user_meta_data ->> 'display_name', ''))
  on conflict (id) do nothing;
  return new;
end
$$;
revoke all on function private.create_profile_for_new_user() from public;
create trigger on_auth_user_created
  after insert on auth.users
  for each row execute function private.create_profile_for_new_user();

alter table public.organizations enable row level security;
alter table public.profiles enable row level security;
alter table public.memberships enable row level security;

revoke all on table public.organizations, public.profiles, public.memberships from anon, authenticated;
grant select on table public.organizations, public.profiles, public.memberships to authenticated;
-- Owners rename their organization; the tier changes only through billing (service_role).
grant update (name) on table public.organizations to authenticated;
grant delete on table public.organizations to authenticated;
grant update (display_name) on table public.profiles to authenticated;
grant insert, update (role), delete on table public.memberships to authenticated;
grant all on table public.organizations, public.profiles, public.memberships to service_role;

create policy organizations_read_by_members on public.organizations
  for select to authenticated
  using (id in (select private.organizations_of_caller()));
create policy organizations_renamed_by_owners on public.organizations
  for update to authenticated
  using (id in (select private.organizations_of_caller('{owner}')))
  with check (id in (select private.organizations_of_caller('{owner}')));
create policy organizations_deleted_by_owners on public.organizations
  for delete to authenticated
  using (id in (select private.organizations_of_caller('{owner}')));

-- A user sees their own profile and those of the people they share an organization with.
create policy profiles_read_by_self_and_colleagues on public.profiles
  for select to authenticated
  using (
    id = (select auth.uid())
    or id in (
      select m.user_id from public.memberships m
      where m.organization_id in (select private.organizations_of_caller())
    )
  );
create policy profiles_updated_by_self on public.profiles
  for update to authenticated
  using (id = (select auth.uid()))
  with check (id = (select auth.uid()));

create policy memberships_read_by_members on public.memberships
  for select to authenticated
  using (organization_id in (select private.organizations_of_caller()));
-- Owners and admins manage members; only owners appoint or remove owners.
create policy memberships_added_by_admins on public.memberships
  for insert to authenticated
  with check (
    organization_id in (select private.organizations_of_caller('{owner,admin}'))
    and (role <> 'owner' or organization_id in (select private.organizations_of_caller('{owner}')))
  );
create policy memberships_changed_by_admins on public.memberships
  for update to authenticated
  using (
    organization_id in (select private.organizations_of_caller('{owner,admin}'))
    and (role <> 'owner' or organization_id in (select private.organizations_of_caller('{owner}')))
  )
  with check (
    organization_id in (select private.organizations_of_caller('{owner,admin}'))
    and (role <> 'owner' or organization_id in (select private.organizations_of_caller('{owner}')))
  );
create policy memberships_removed_by_admins on public.memberships
  for delete to authenticated
  using (
    organization_id in (select private.organizations_of_caller('{owner,admin}'))
    and (role <> 'owner' or organization_id in (select private.organizations_of_caller('{owner}')))
  );

-- RPC: a signed-in user creates an organization (free tier) and becomes its owner, in one step.
create function public.create_organization(name text)
returns uuid
language plpgsql security definer
set search_path = ''
as $$
declare
  caller uuid := (select auth.uid());
  created uuid;
begin
  if caller is null then
    raise exception 'creating an organization needs a signed-in user'
      using errcode = '42501', hint = 'send a user JWT in the Authorization header';
  end if;
  insert into public.organizations (name) values (create_organization.name) returning id into created;
  insert into public.memberships (organization_id, user_id, role) values (created, caller, 'owner');
  return created;
end
$$;
revoke all on function public.create_organization(text) from public, anon, authenticated, service_role;
grant execute on function public.create_organization(text) to authenticated;
