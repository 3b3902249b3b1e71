-- The analytics pipeline's SQL: ingesting widget events (one statement per batch), the exactly-once hourly rollup,
-- and retention. Called by analytics-ingest and analytics-processor through RPC.

-- One random salt per UTC day. Visitor ids are stored only as sha256(salt || id): stable within a day (exact unique
-- visitors per hour), unlinkable across days, and irreversible once the day's salt is deleted (after 2 days).
create table analytics.daily_salts (
  day date primary key,
  salt bytea not null check (length(salt) = 32)
);
alter table analytics.daily_salts enable row level security;
grant all on table analytics.daily_salts to service_role;

-- RPC: stores a batch of events the function has validated. Duplicates (an event_id already stored, or twice in the
-- batch) are skipped: a retried batch is a no-op. Returns how many were new and how many were duplicates.
create function public.ingest_events(events jsonb)
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
revoke all on function public.ingest_events(jsonb) from public, anon, authenticated, service_role;
grant execute on function public.ingest_events(jsonb) to service_role;

-- The hourly statistics of the given (capsule, hour) pairs, computed from scratch over the raw events. The rollup
-- writes exactly this; the tests compare the table against it over every hour.
create function analytics.hourly_stats_of(capsules uuid[], hours timestamptz[])
returns table (
  capsule_id uuid, hour timestamptz, views bigint, runs bigint, submissions bigint, passes bigint, fails bigint,
  errors bigint, unique_visitors bigint, avg_run_ms double precision, p95_run_ms double precision
)
language sql stable security invoker
set search_path = ''
as $$
  select e.capsule_id,
         date_trunc('hour', e.occurred_at, 'UTC'),
         count(*) filter (where e.type = 'view'),
         count(*) filter (where e.type = 'run'),
         count(*) filter (where e.type = 'submit'),
         count(*) filter (where e.type = 'pass'),
         count(*) filter (where e.type = 'fail'),
         count(*) filter (where e.type = 'error'),
         count(distinct e.visitor_hash),
         avg(e.duration_ms) filter (where e.type = 'run'),
         percentile_cont(0.95) within group (order by e.duration_ms) filter (where e.type = 'run')
  from unnest(capsules, hours) as touched (capsule_id, hour)
  -- The range serves index probes for a few hours; the equality, hash joins for many.
  join analytics.events e
    on e.capsule_id = touched.capsule_id
   and date_trunc('hour', e.occurred_at, 'UTC') = touched.hour
   and e.occurred_at >= touched.hour
   and e.occurred_at < touched.hour + interval '1 hour'
  group by 1, 2
$$;
revoke all on function analytics.hourly_stats_of(uuid[], timestamptz[]) from public, anon, authenticated, service_role;
grant execute on function analytics.hourly_stats_of(uuid[], timestamptz[]) to service_role;

-- RPC: one rollup run, exactly once.
-- * Only one runs at a time: a transaction-scoped advisory lock; a second processor answers 'busy' at once.
-- * New events are those inserted by transactions at or above the watermark and below the oldest transaction still
--   running (pg_snapshot_xmin): every transaction below it has ended, so no event can still appear below it, however
--   late it commits. (A long-running transaction elsewhere in the database holds the rollup back; it loses nothing.)
-- * Each (capsule, hour) those events touch is recomputed from all its raw events and upserted: late events merge
--   into their hour, and a run repeated after a crash writes the same figures.
-- * The watermark moves in the same transaction as the upserts: a run that dies mid-way leaves no trace.
create function public.rollup_analytics()
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
revoke all on function public.rollup_analytics() from public, anon, authenticated, service_role;
grant execute on function public.rollup_analytics() to service_role;

-- RPC: retention. Deletes at most max_rows raw events that occurred more than retention_days ago and have been rolled
-- up (below the watermark), and the salts of days before yesterday. Returns how many events went; the processor
-- calls it until a call deletes fewer than max_rows, within its time budget.
create function public.prune_analytics_events(retention_days integer, max_rows integer default 10000)
returns integer
language plpgsql volatile security invoker
set search_path = ''
as $$
declare
  deleted integer;
begin
  if retention_days < 1 or max_rows < 1 then
    raise exception 'retention_days and max_rows must be positive' using errcode = '22023';
  end if;
  with expired as (
    select e.event_id from analytics.events e
    where e.occurred_at < now() - make_interval(days => retention_days)
      and e.inserted_xid < (select w.processed_below from analytics.rollup_watermark w where w.singleton)
    -- Oldest first, which also keeps the plan on the occurred_at index whatever the table's statistics say.
    order by e.occurred_at
    limit max_rows
  )
  delete from analytics.events e using expired where e.event_id = expired.event_id;
  get diagnostics deleted = row_count;
  delete from analytics.daily_salts s where s.day < (now() at time zone 'utc')::date - 1;
  return deleted;
end
$$;
revoke all on function public.prune_analytics_events(integer, integer) from public, anon, authenticated, service_role;
grant execute on function public.prune_analytics_events(integer, integer) to service_role;
