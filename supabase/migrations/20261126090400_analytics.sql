-- Analytics: raw widget events, hourly per-capsule statistics, and the rollup watermark.
-- The analytics schema must be added to the API's exposed schemas on Supabase (Settings > API) for dashboards to
-- read capsule_hourly_stats; raw events are never readable through the API.

create schema if not exists analytics;
revoke all on schema analytics from public;
grant usage on schema analytics to authenticated, service_role;

create table analytics.events (
  event_id uuid primary key,
  capsule_id uuid not null,
  type text not null check (type in ('view', 'run', 'submit', 'pass', 'fail', 'error')),
  -- A daily-salted hash of the visitor id: no raw identifier is stored.
  visitor_hash text,
  session_id text check (length(session_id) <= 128),
  occurred_at timestamptz not null,
  received_at timestamptz not null default now(),
  duration_ms integer check (duration_ms >= 0),
  language text check (length(language) <= 32),
  widget_version text check (length(widget_version) <= 32),
  -- The inserting transaction: the rollup takes events below the oldest transaction still running, so that an event
  -- committed late is never skipped (a sequence number alone would be: numbers are taken before commit).
  inserted_xid xid8 not null default pg_current_xact_id()
);
-- An event for a capsule the store does not know yet is kept (no foreign key): a widget may run before its capsule syncs.
create index events_capsule_time_idx on analytics.events (capsule_id, occurred_at);
create index events_inserted_xid_idx on analytics.events (inserted_xid);
-- Retention deletes by time.
create index events_occurred_idx on analytics.events (occurred_at);

create table analytics.capsule_hourly_stats (
  capsule_id uuid not null,
  hour timestamptz not null check (date_trunc('hour', hour) = hour),
  views bigint not null default 0,
  runs bigint not null default 0,
  submissions bigint not null default 0,
  passes bigint not null default 0,
  fails bigint not null default 0,
  errors bigint not null default 0,
  unique_visitors bigint not null default 0,
  avg_run_ms double precision,
  p95_run_ms double precision,
  updated_at timestamptz not null default now(),
  primary key (capsule_id, hour)
);

-- Where the last rollup stopped: every event inserted by a transaction below this id has been rolled up.
create table analytics.rollup_watermark (
  singleton boolean primary key default true check (singleton),
  processed_below xid8 not null default '0'::xid8,
  last_run_at timestamptz,
  last_run_events bigint not null default 0
);
insert into analytics.rollup_watermark (singleton) values (true);

alter table analytics.events enable row level security;
alter table analytics.capsule_hourly_stats enable row level security;
alter table analytics.rollup_watermark enable row level security;

grant select on table analytics.capsule_hourly_stats to authenticated;
grant all on table analytics.events, analytics.capsule_hourly_stats, analytics.rollup_watermark to service_role;

-- The capsules of the caller's organizations: the capsule-to-organization link is applied when stats are read.
create function private.capsules_of_caller()
returns setof uuid
language sql stable security definer
set search_path = ''
as $$
  select c.id from public.capsules c
  where c.organization_id in (select private.organizations_of_caller())
$$;
revoke all on function private.capsules_of_caller() from public;
grant execute on function private.capsules_of_caller() to authenticated;

create policy stats_read_by_members on analytics.capsule_hourly_stats
  for select to authenticated
  using (capsule_id in (select private.capsules_of_caller()));
-- analytics.events and rollup_watermark: no policy for anon or authenticated (denied); service_role bypasses RLS.
