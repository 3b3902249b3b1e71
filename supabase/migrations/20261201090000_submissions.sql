-- Capsules judged on the server's terms.
-- 1. The public row holds the reader's view only. capsules.content used to be the capsule minus its solution, which
--    the public catalogue served with every hidden test's input and expected output. Now content is the reader's view
--    (computed by the functions: codecapsule_core::reader), and the capsule as its authors wrote it (hidden tests,
--    explanation, full provenance) lives beside its solution in capsule_solutions, which anon has no privilege on.
-- 2. Submissions: every program judged against a stored capsule, with its submitter, readable by the submitter and by
--    the capsule's organization only.
-- 3. Server-verified analytics: the hourly rollup also counts stored submissions (attempts, accepted, unique solvers),
--    beside the widget-reported events.

-- 1. The authored capsule, private.
alter table public.capsule_solutions
  add column authored jsonb check (authored is null or jsonb_typeof(authored) = 'object');

-- Rows saved before this migration: their content becomes the reader's view. (This one-off mirrors
-- codecapsule_core::reader::ReaderCapsule::of; from now on the functions compute the view.)
insert into public.capsule_solutions as s (capsule_id, organization_id, solution, authored)
select c.id, c.organization_id, '{}'::jsonb, c.content from public.capsules c
on conflict (capsule_id) do update set authored = excluded.authored;
update public.capsules c
set content = (c.content - 'explanation_md' - 'provenance')
  || jsonb_build_object(
       'provenance', coalesce((select jsonb_object_agg(p.key, p.value) from jsonb_each(c.content -> 'provenance') p
                               where p.key in ('model', 'date')), '{}'::jsonb),
       'tests', coalesce((select jsonb_agg(case when coalesce((t.test ->> 'hidden')::boolean, false)
                                           then jsonb_build_object('id', coalesce(t.test ->> 'id', 't' || t.position),
                                                                   'hidden', true,
                                                                   'weight', coalesce(t.test -> 'weight', '1'::jsonb))
                                           else t.test end order by t.position)
                          from jsonb_array_elements(c.content -> 'tests') with ordinality as t (test, position)), '[]'))
where jsonb_typeof(c.content -> 'tests') = 'array';

-- What the public row may never hold, whoever writes it: a hidden test's input or expectations, an explanation.
alter table public.capsules add constraint capsules_content_is_a_reader_view check (
  not content ? 'explanation_md'
  and not jsonb_path_exists(content,
    '$.tests[*] ? (@.hidden == true && (exists(@.stdin) || exists(@.expected_stdout) || exists(@.args) || exists(@.expected_result)))')
);

-- RPC: create or update a capsule in one call (replaces the version without reader_view). `capsule` is the
-- contract's Capsule JSON as authored, solution included; `reader_view` is what readers may see of it (the functions
-- compute it). SECURITY INVOKER: the caller's policies decide (admins of the organization, or service_role). A capsule
-- is identified by its id when it has one, else by (organization, slug). expected_version, when given, must match the
-- stored version (optimistic concurrency: SQLSTATE PT409, which PostgREST answers as 409).
drop function public.save_capsule(uuid, jsonb, public.capsule_visibility, public.capsule_status, integer);
create function public.save_capsule(
  organization_id uuid,
  capsule jsonb,
  reader_view jsonb,
  visibility public.capsule_visibility default 'private',
  status public.capsule_status default 'draft',
  expected_version integer default null
)
returns table (saved_id uuid, saved_version integer)
language plpgsql security invoker
set search_path = ''
as $$
declare
  authored jsonb := capsule - 'solution' - 'id' - 'version';
  new_content jsonb := reader_view - 'id' - 'version';
  wanted_id uuid := nullif(capsule ->> 'id', '')::uuid;
  stored record;
begin
  if jsonb_typeof(capsule) is distinct from 'object' or jsonb_typeof(reader_view) is distinct from 'object' then
    raise exception 'capsule and reader_view must be JSON objects' using errcode = '22023';
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
    -- A new version named by id keeps its slug unless the capsule gives a new one.
    set slug = coalesce(capsule ->> 'slug', c.slug), title = capsule ->> 'title', language = capsule ->> 'language',
        visibility = save_capsule.visibility, status = save_capsule.status, content = new_content,
        version = c.version + 1, updated_at = now()
    where c.id = stored.id
    returning c.id, c.version into stored;
  end if;
  insert into public.capsule_solutions as s (capsule_id, organization_id, solution, authored)
  values (stored.id, save_capsule.organization_id, coalesce(capsule -> 'solution', '{}'::jsonb), authored)
  on conflict (capsule_id) do update
    set solution = coalesce(capsule -> 'solution', s.solution), authored = excluded.authored;
  return query select stored.id, stored.version;
end
$$;
revoke all on function public.save_capsule(uuid, jsonb, jsonb, public.capsule_visibility, public.capsule_status, integer)
  from public, anon, authenticated, service_role;
grant execute on function public.save_capsule(uuid, jsonb, jsonb, public.capsule_visibility, public.capsule_status, integer)
  to authenticated, service_role;

-- RPC: one capsule as the caller may see it, with its storage fields. Callers who may read capsule_solutions (members
-- of its organization, service_role) get the authored capsule, solution included; everyone else the reader's view of
-- a capsule RLS lets them see. NULL when not visible.
create or replace function public.capsule_by_id(id uuid)
returns jsonb
language plpgsql stable security invoker
set search_path = ''
as $$
declare
  result jsonb;
  private record;
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
    select s.solution, s.authored into private from public.capsule_solutions s where s.capsule_id = capsule_by_id.id;
    if private.solution is not null then
      -- The authored fields over the reader's view; the storage fields (never in `authored`) stay.
      result := result || coalesce(private.authored, '{}'::jsonb) || jsonb_build_object('solution', private.solution);
    end if;
  end if;
  return result;
end
$$;

-- RPC: the version, status and visibility of a capsule the caller may see (one index probe: what a warm submission
-- reads before it finds the capsule's tests in its instance's cache). No row when not visible.
create function public.capsule_head(id uuid)
returns table (capsule_id uuid, organization_id uuid, version integer, status public.capsule_status,
               visibility public.capsule_visibility)
language sql stable security invoker
set search_path = ''
as $$
  select c.id, c.organization_id, c.version, c.status, c.visibility from public.capsules c where c.id = capsule_head.id
$$;
revoke all on function public.capsule_head(uuid) from public, anon, authenticated, service_role;
grant execute on function public.capsule_head(uuid) to anon, authenticated, service_role;

-- 2. Submissions.
create table public.submissions (
  id uuid primary key default gen_random_uuid(),
  capsule_id uuid not null references public.capsules (id) on delete cascade,
  capsule_version integer not null check (capsule_version >= 1),
  -- The capsule's organization, copied so that the members' policy tests an indexed column of this table.
  organization_id uuid not null references public.organizations (id) on delete cascade,
  language text not null check (length(language) between 1 and 32),
  verdict text not null check (verdict in ('accepted', 'wrong_answer', 'time_limit_exceeded', 'memory_limit_exceeded',
                                           'output_limit_exceeded', 'runtime_error', 'compilation_error',
                                           'internal_error')),
  score double precision not null check (score between 0 and 1),
  -- Each test's id, verdict and weight: what the submitter was shown of a hidden test, and no more.
  tests jsonb not null check (jsonb_typeof(tests) = 'array'),
  -- The submitter, at most one of: a signed-in user, an organization's API key, an anonymous visitor (the analytics
  -- pipeline's daily-salted hash; no raw identifier is stored). None once a user is deleted.
  user_id uuid references auth.users (id) on delete set null,
  api_key_organization_id uuid references public.organizations (id) on delete set null,
  visitor_hash text check (length(visitor_hash) = 64),
  check (num_nonnulls(user_id, api_key_organization_id, visitor_hash) <= 1),
  created_at timestamptz not null default now(),
  -- As in analytics.events: the rollup takes submissions below the oldest transaction still running.
  inserted_xid xid8 not null default pg_current_xact_id()
);
create index submissions_capsule_idx on public.submissions (capsule_id, created_at desc, id desc);
create index submissions_user_idx on public.submissions (user_id, created_at desc) where user_id is not null;
create index submissions_organization_idx on public.submissions (organization_id);
create index submissions_inserted_xid_idx on public.submissions (inserted_xid);

alter table public.submissions enable row level security;
revoke all on table public.submissions from anon, authenticated;
grant select on table public.submissions to authenticated;
grant all on table public.submissions to service_role;
create policy submissions_read_by_submitter on public.submissions
  for select to authenticated
  using (user_id = (select auth.uid()));
create policy submissions_read_by_members on public.submissions
  for select to authenticated
  using (organization_id in (select private.organizations_of_caller()));
-- Writes: service_role only (record_submission), so a submission always is a run the functions judged.

-- Today's salt of visitor hashes, made on the day's first use (shared by ingest_events and record_submission).
create function analytics.todays_salt()
returns bytea
language plpgsql volatile security invoker
set search_path = ''
as $$
declare
  today date := (now() at time zone 'utc')::date;
  today_salt bytea;
begin
  select s.salt into today_salt from analytics.daily_salts s where s.day = today;
  if today_salt is null then
    insert into analytics.daily_salts (day, salt)
    values (today, decode(replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', ''), 'hex'))
    on conflict (day) do nothing;
    -- A concurrent call may have made it first: this statement sees its row once that call has committed.
    select s.salt into today_salt from analytics.daily_salts s where s.day = today;
  end if;
  return today_salt;
end
$$;
revoke all on function analytics.todays_salt() from public, anon, authenticated, service_role;
grant execute on function analytics.todays_salt() to service_role;

-- ingest_events as before, its salt from analytics.todays_salt().
create or replace function public.ingest_events(events jsonb)
returns table (accepted integer, duplicates integer)
language plpgsql volatile security invoker
set search_path = ''
as $$
declare
  today_salt bytea;
  inserted integer;
begin
  if jsonb_typeof(events) is distinct from 'array' then
    raise exception 'events must be a JSON array' using errcode = '22023';
  end if;
  today_salt := analytics.todays_salt();
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

-- RPC: stores one judged submission (service_role: the functions, after judging). The submitter is a user, an API
-- key's organization, or an anonymous visitor id (hashed here with today's salt, as widget events are).
create function public.record_submission(
  capsule_id uuid, capsule_version integer, language text, verdict text, score double precision, tests jsonb,
  user_id uuid, api_key_organization_id uuid, visitor_id text
)
returns table (submission_id uuid, created_at timestamptz)
language plpgsql volatile security invoker
set search_path = ''
as $$
begin
  return query
  insert into public.submissions as s
    (capsule_id, capsule_version, organization_id, language, verdict, score, tests, user_id, api_key_organization_id,
     visitor_hash)
  select c.id, record_submission.capsule_version, c.organization_id, record_submission.language,
         record_submission.verdict, record_submission.score, record_submission.tests, record_submission.user_id,
         record_submission.api_key_organization_id,
         case when record_submission.visitor_id is null then null
              else encode(sha256(analytics.todays_salt() || convert_to(record_submission.visitor_id, 'UTF8')), 'hex')
         end
  from public.capsules c
  where c.id = record_submission.capsule_id
  returning s.id, s.created_at;
end
$$;
revoke all on function public.record_submission(uuid, integer, text, text, double precision, jsonb, uuid, uuid, text)
  from public, anon, authenticated, service_role;
grant execute on function public.record_submission(uuid, integer, text, text, double precision, jsonb, uuid, uuid, text)
  to service_role;

-- RPC: a capsule's submissions as the caller may see them (RLS decides), newest first, page_size at most 100;
-- `before` (a submission's id) continues a listing below that submission.
create function public.capsule_submissions(capsule_id uuid, before uuid default null, page_size integer default 50)
returns setof public.submissions
language plpgsql stable security invoker
set search_path = ''
as $$
declare
  cursor_time timestamptz;
  cursor_id uuid;
begin
  if page_size < 1 or page_size > 100 then
    raise exception 'page_size must be from 1 to 100' using errcode = '22023';
  end if;
  if before is not null then
    select s.created_at, s.id into cursor_time, cursor_id from public.submissions s where s.id = before;
  end if;
  return query
  select s.*
  from public.submissions s
  where s.capsule_id = capsule_submissions.capsule_id
    and (cursor_id is null or (s.created_at, s.id) < (cursor_time, cursor_id))
  order by s.created_at desc, s.id desc
  limit page_size;
end
$$;
revoke all on function public.capsule_submissions(uuid, uuid, integer) from public, anon, authenticated, service_role;
grant execute on function public.capsule_submissions(uuid, uuid, integer) to authenticated, service_role;

-- RPC: one submission as the caller may see it (RLS decides); no row when not visible.
create function public.submission_by_id(id uuid)
returns setof public.submissions
language sql stable security invoker
set search_path = ''
as $$
  select s.* from public.submissions s where s.id = submission_by_id.id
$$;
revoke all on function public.submission_by_id(uuid) from public, anon, authenticated, service_role;
grant execute on function public.submission_by_id(uuid) to authenticated, service_role;

-- 3. Server-verified analytics, beside the widget's figures.
alter table analytics.capsule_hourly_stats
  add column verified_attempts bigint not null default 0,
  add column verified_accepted bigint not null default 0,
  add column verified_solvers bigint not null default 0;

comment on column analytics.capsule_hourly_stats.verified_attempts is
  'Server-verified: submissions judged against the stored capsule in the hour (the other counts are widget-reported).';
comment on column analytics.capsule_hourly_stats.verified_accepted is
  'Server-verified: accepted submissions in the hour.';
comment on column analytics.capsule_hourly_stats.verified_solvers is
  'Server-verified: distinct submitters (user, API key, visitor hash) with an accepted submission in the hour.';

-- The verified figures of the given (capsule, hour) pairs, from scratch over the stored submissions. A solver is a
-- distinct submitter with an accepted submission in the hour.
create function analytics.verified_stats_of(capsules uuid[], hours timestamptz[])
returns table (capsule_id uuid, hour timestamptz, attempts bigint, accepted bigint, solvers bigint)
language sql stable security invoker
set search_path = ''
as $$
  select s.capsule_id,
         date_trunc('hour', s.created_at, 'UTC'),
         count(*),
         count(*) filter (where s.verdict = 'accepted'),
         count(distinct coalesce(s.user_id::text, s.api_key_organization_id::text, s.visitor_hash))
           filter (where s.verdict = 'accepted')
  from unnest(capsules, hours) as touched (capsule_id, hour)
  join public.submissions s
    on s.capsule_id = touched.capsule_id
   and s.created_at >= touched.hour
   and s.created_at < touched.hour + interval '1 hour'
  group by 1, 2
$$;
revoke all on function analytics.verified_stats_of(uuid[], timestamptz[]) from public, anon, authenticated, service_role;
grant execute on function analytics.verified_stats_of(uuid[], timestamptz[]) to service_role;

-- RPC: one rollup run, exactly once (see 20261126090600_analytics_pipeline.sql for the watermark's reasoning), now
-- over the widget's events and the stored submissions alike: both are taken between the same two transaction ids,
-- and each (capsule, hour) either touches is recomputed from all its rows, in the same transaction as the watermark.
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
  verified_capsules uuid[];
  verified_hours timestamptz[];
  new_submissions bigint;
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
  select array_agg(t.capsule_id), array_agg(t.hour), coalesce(sum(t.n), 0)
    into verified_capsules, verified_hours, new_submissions
  from (
    select s.capsule_id, date_trunc('hour', s.created_at, 'UTC') as hour, count(*) as n
    from public.submissions s
    where s.inserted_xid >= lower_bound and s.inserted_xid < upper_bound
    group by 1, 2
  ) t;
  if new_submissions > 0 then
    insert into analytics.capsule_hourly_stats as s
      (capsule_id, hour, verified_attempts, verified_accepted, verified_solvers, updated_at)
    select v.*, now() from analytics.verified_stats_of(verified_capsules, verified_hours) v
    on conflict (capsule_id, hour) do update set
      verified_attempts = excluded.verified_attempts, verified_accepted = excluded.verified_accepted,
      verified_solvers = excluded.verified_solvers, updated_at = excluded.updated_at;
  end if;
  update analytics.rollup_watermark w
  set processed_below = greatest(lower_bound, upper_bound), last_run_at = now(),
      last_run_events = new_events + new_submissions
  where w.singleton;
  return query select 'done'::text, new_events + new_submissions,
    (coalesce(cardinality(touched_hours), 0) + coalesce(cardinality(verified_hours), 0))::bigint;
end
$$;
