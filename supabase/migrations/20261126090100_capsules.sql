-- Capsules. The reference solution lives in its own table so that no grant or policy on capsules can ever expose it:
-- anon has no privilege at all on capsule_solutions, and its rows are visible to the capsule's organization only.

create type public.capsule_visibility as enum ('public', 'unlisted', 'private');
create type public.capsule_status as enum ('draft', 'validated', 'published', 'quarantined');

create table public.capsules (
  id uuid primary key default gen_random_uuid(),
  organization_id uuid not null references public.organizations (id) on delete cascade,
  author_id uuid references auth.users (id) on delete set null,
  slug text not null check (slug ~ '^[a-z0-9][a-z0-9-]{0,99}$'),
  title text not null check (length(title) between 1 and 200),
  language text not null check (length(language) between 1 and 32),
  visibility public.capsule_visibility not null default 'private',
  status public.capsule_status not null default 'draft',
  -- The capsule as the public contract defines it, minus `solution`.
  content jsonb not null check (jsonb_typeof(content) = 'object' and not content ? 'solution'),
  version integer not null default 1 check (version >= 1),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (organization_id, slug)
);
create index capsules_organization_idx on public.capsules (organization_id);
-- What anon may read: a partial index keeps the public catalogue lookup small.
create index capsules_public_idx on public.capsules (id) where visibility = 'public' and status = 'published';

create table public.capsule_solutions (
  capsule_id uuid primary key references public.capsules (id) on delete cascade,
  -- Copied from the capsule so that the policy tests an indexed column of this table, without a join.
  organization_id uuid not null references public.organizations (id) on delete cascade,
  solution jsonb not null check (jsonb_typeof(solution) = 'object')
);
create index capsule_solutions_organization_idx on public.capsule_solutions (organization_id);

alter table public.capsules enable row level security;
alter table public.capsule_solutions enable row level security;

revoke all on table public.capsules, public.capsule_solutions from anon, authenticated;
grant select on table public.capsules to anon, authenticated;
grant insert, update, delete on table public.capsules to authenticated;
grant select, insert, update, delete on table public.capsule_solutions to authenticated;
grant all on table public.capsules, public.capsule_solutions to service_role;

create policy capsules_public_catalogue on public.capsules
  for select to anon, authenticated
  using (visibility = 'public' and status = 'published');
create policy capsules_read_by_members on public.capsules
  for select to authenticated
  using (organization_id in (select private.organizations_of_caller()));
create policy capsules_created_by_admins on public.capsules
  for insert to authenticated
  with check (organization_id in (select private.organizations_of_caller('{owner,admin}')));
create policy capsules_changed_by_admins on public.capsules
  for update to authenticated
  using (organization_id in (select private.organizations_of_caller('{owner,admin}')))
  with check (organization_id in (select private.organizations_of_caller('{owner,admin}')));
create policy capsules_deleted_by_admins on public.capsules
  for delete to authenticated
  using (organization_id in (select private.organizations_of_caller('{owner,admin}')));

create policy solutions_read_by_members on public.capsule_solutions
  for select to authenticated
  using (organization_id in (select private.organizations_of_caller()));
create policy solutions_written_by_admins on public.capsule_solutions
  for all to authenticated
  using (organization_id in (select private.organizations_of_caller('{owner,admin}')))
  with check (organization_id in (select private.organizations_of_caller('{owner,admin}')));

-- RPC: create or update a capsule (the contract's Capsule JSON, solution included) in one call. SECURITY INVOKER: the
-- caller's policies decide (admins of the organization, or service_role). A capsule is identified by its id when it
-- has one, else by (organization, slug). expected_version, when given, must match the stored version (optimistic
-- concurrency: SQLSTATE PT409, which PostgREST answers as 409).
create function public.save_capsule(
  organization_id uuid,
  capsule jsonb,
  visibility public.capsule_visibility default 'private',
  status public.capsule_status default 'draft',
  expected_version integer default null
)
returns table (saved_id uuid, saved_version integer)
language plpgsql security invoker
set search_path = ''
as $$
declare
  new_content jsonb := capsule - 'solution' - 'id' - 'version';
  wanted_id uuid := nullif(capsule ->> 'id', '')::uuid;
  stored record;
begin
  if jsonb_typeof(capsule) is distinct from 'object' then
    raise exception 'capsule must be a JSON object' using errcode = '22023';
  end if;
  select c.id, c.version into stored
  from public.capsules c
  where c.organization_id = save_capsule.organization_id
    and (c.id = wanted_id or (wanted_id is null and c.slug = capsule ->> 'slug'))
  for update;
  if expected_version is not null and coalesce(stored.version, 0) <> expected_version then
    raise exception 'the capsule is at version %, not %', coalesce(stored.version, 0), expected_version
      using errcode = 'PT409', hint = 'read the capsule again and retry with its current version';
  end if;
  if stored.id is null then
    insert into public.capsules as c (id, organization_id, author_id, slug, title, language, visibility, status, content)
    values (
      coalesce(wanted_id, gen_random_uuid()), save_capsule.organization_id, (select auth.uid()),
      capsule ->> 'slug', capsule ->> 'title', capsule ->> 'language',
      save_capsule.visibility, save_capsule.status, new_content
    )
    returning c.id, c.version into stored;
  else
    update public.capsules as c
    set slug = capsule ->> 'slug', title = capsule ->> 'title', language = capsule ->> 'language',
        visibility = save_capsule.visibility, status = save_capsule.status, content = new_content,
        version = c.version + 1, updated_at = now()
    where c.id = stored.id
    returning c.id, c.version into stored;
  end if;
  if capsule ? 'solution' then
    insert into public.capsule_solutions as s (capsule_id, organization_id, solution)
    values (stored.id, save_capsule.organization_id, capsule -> 'solution')
    on conflict (capsule_id) do update set solution = excluded.solution;
  end if;
  return query select stored.id, stored.version;
end
$$;
revoke all on function public.save_capsule(uuid, jsonb, public.capsule_visibility, public.capsule_status, integer)
  from public, anon, authenticated, service_role;
grant execute on function public.save_capsule(uuid, jsonb, public.capsule_visibility, public.capsule_status, integer)
  to authenticated, service_role;

-- RPC: one capsule as the caller may see it, as the contract's Capsule JSON plus its storage fields; the solution is
-- included only when the caller may read it (members of its organization, service_role). NULL when not visible.
create function public.capsule_by_id(id uuid)
returns jsonb
language plpgsql stable security invoker
set search_path = ''
as $$
declare
  result jsonb;
  stored_solution jsonb;
begin
  select c.content || jsonb_build_object(
           'id', c.id, 'version', c.version, 'organization_id', c.organization_id, 'status', c.status,
           'visibility', c.visibility, 'slug', c.slug, 'title', c.title, 'language', c.language)
    into result
  from public.capsules c
  where c.id = capsule_by_id.id;
  if result is null then
    return null;
  end if;
  if has_table_privilege('public.capsule_solutions', 'select') then
    select s.solution into stored_solution from public.capsule_solutions s where s.capsule_id = capsule_by_id.id;
    if stored_solution is not null then
      result := result || jsonb_build_object('solution', stored_solution);
    end if;
  end if;
  return result;
end
$$;
revoke all on function public.capsule_by_id(uuid) from public, anon, authenticated, service_role;
grant execute on function public.capsule_by_id(uuid) to anon, authenticated, service_role;
