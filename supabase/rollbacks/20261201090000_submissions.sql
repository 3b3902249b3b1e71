-- Rolls back 20261201090000_submissions.sql: the earlier definitions come back as they were.
-- The reader's view cannot be undone into the old content: the authored capsule is copied back into content.
create or replace function public.rollup_analytics()
returns table (outcome text, events bigint, hours bigint)
language plpgsql volatile security invoker
set search_path = ''
as $$
declare
  lower_bound xid8;
  upper_bound xid8 := pg_snapshot_xmin(pg_current_snapshot());
  touched_capsules uuid[];
  touched_hours timestamptz[];
  new_events bigint;
begin
  if not pg_try_advisory_xact_lock(hashtextextended('codecapsule.analytics.rollup', 0)) then
    return query select 'busy'::text, 0::bigint, 0::bigint;
    return;
  end if;
  select w.processed_below into lower_bound from analytics.rollup_watermark w where w.singleton for update;
  select array_agg(t.capsule_id), array_agg(t.hour), coalesce(sum(t.n), 0)
    into touched_capsules, touched_hours, new_events
  from (
    select e.capsule_id, date_trunc('hour', e.occurred_at, 'UTC') as hour, count(*) as n
    from analytics.events e
    where e.inserted_xid >= lower_bound and e.inserted_xid < upper_bound
    group by 1, 2
  ) t;
  if new_events > 0 then
    -- The planner cannot see how many pairs the arrays hold and plans one index probe per pair; past a few thousand
    -- (a backlog), one pass over the events with a hash join is faster. (JIT off too: the disabled plan's cost would
    -- otherwise switch it on, and compiling takes longer than the query.) For this transaction only.
    if cardinality(touched_hours) > 2000 then
      perform set_config('enable_nestloop', 'off', true);
      perform set_config('jit', 'off', true);
    end if;
    insert into analytics.capsule_hourly_stats as s
      (capsule_id, hour, views, runs, submissions, passes, fails, errors, unique_visitors, avg_run_ms, p95_run_ms,
       updated_at)
    select h.*, now() from analytics.hourly_stats_of(touched_capsules, touched_hours) h
    on conflict (capsule_id, hour) do update set
      views = excluded.views, runs = excluded.runs, submissions = excluded.submissions, passes = excluded.passes,
      fails = excluded.fails, errors = excluded.errors, unique_visitors = excluded.unique_visitors,
      avg_run_ms = excluded.avg_run_ms, p95_run_ms = excluded.p95_run_ms, updated_at = excluded.updated_at;
  end if;
  update analytics.rollup_watermark w
  set processed_below = greatest(lower_bound, upper_bound), last_run_at = now(), last_run_events = new_events
  where w.singleton;
  return query select 'done'::text, new_events, coalesce(cardinality(touched_hours), 0)::bigint;
end
$$;

alter table analytics.capsule_hourly_stats
  drop column if exists verified_solvers,
  drop column if exists verified_accepted,
  drop column if exists verified_attempts;
drop function if exists analytics.verified_stats_of(uuid[], timestamptz[]);
drop function if exists public.submission_by_id(uuid);
drop function if exists public.capsule_submissions(uuid, uuid, integer);
drop function if exists public.record_submission(uuid, integer, text, text, double precision, jsonb, uuid, uuid, text);
create or replace function public.ingest_events(events jsonb)
returns table (accepted integer, duplicates integer)
language plpgsql volatile security invoker
set search_path = ''
as $$
declare
  today date := (now() at time zone 'utc')::date;
  today_salt bytea;
  inserted integer;
begin
  if jsonb_typeof(events) is distinct from 'array' then
    raise exception 'events must be a JSON array' using errcode = '22023';
  end if;
  select s.salt into today_salt from analytics.daily_salts s where s.day = today;
  if today_salt is null then
    insert into analytics.daily_salts (day, salt)
    values (today, decode(replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', ''), 'hex'))
    on conflict (day) do nothing;
    -- A concurrent batch may have made it first: this statement sees its row once that batch has committed.
    select s.salt into today_salt from analytics.daily_salts s where s.day = today;
  end if;
  insert into analytics.events
    (event_id, capsule_id, type, visitor_hash, session_id, occurred_at, duration_ms, language, widget_version)
  select e.event_id, e.capsule_id, e.type,
         case when e.visitor_id is null then null
              else encode(sha256(today_salt || convert_to(e.visitor_id, 'UTF8')), 'hex') end,
         e.session_id, e.ts, e.duration_ms, e.language, e.widget_version
  from jsonb_to_recordset(events) as e(
    event_id uuid, capsule_id uuid, type text, visitor_id text, session_id text, ts timestamptz,
    duration_ms integer, language text, widget_version text)
  on conflict (event_id) do nothing;
  get diagnostics inserted = row_count;
  return query select inserted, jsonb_array_length(events) - inserted;
end
$$;
drop function if exists analytics.todays_salt();
drop table if exists public.submissions;
drop function if exists public.capsule_head(uuid);
-- RPC: one capsule as the caller may see it, as the contract's Capsule JSON plus its storage fields; the solution is
-- included only when the caller may read it (members of its organization, service_role). NULL when not visible.
create or replace function public.capsule_by_id(id uuid)
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
drop function if exists public.save_capsule(uuid, jsonb, jsonb, public.capsule_visibility, public.capsule_status, integer);
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

alter table public.capsules drop constraint if exists capsules_content_is_a_reader_view;
update public.capsules c set content = s.authored
from public.capsule_solutions s where s.capsule_id = c.id and s.authored is not null;
alter table public.capsule_solutions drop column if exists authored;
