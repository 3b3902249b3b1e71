-- Rate limiting: GCRA (the generic cell rate algorithm) in one SQL statement over an UNLOGGED table.
--
-- Each key stores one timestamp, its theoretical arrival time (TAT). With an emission interval T = 1 minute / rate
-- and a tolerance of burst × T, a request costing n is admitted when max(TAT, now) + n·T − burst·T <= now, and then
-- TAT moves to max(TAT, now) + n·T. The INSERT … ON CONFLICT DO UPDATE … WHERE takes the row lock and re-reads the
-- latest TAT, so concurrent requests on one key are serialised by PostgreSQL and admit exactly the burst.
-- UNLOGGED: no WAL, so decisions are cheap; the table is emptied by a crash, which only forgets recent spending.

create unlogged table private.rate_limits (
  key text primary key check (length(key) <= 200),
  tat timestamptz not null
);
alter table private.rate_limits enable row level security;
revoke all on table private.rate_limits from public;
grant select, insert, update, delete on table private.rate_limits to service_role;

-- RPC for the functions. Answers whether the request is admitted, how many more would be now, how long to wait
-- before retrying (when refused) and until the key is back to a full burst.
create function public.rate_limit_take(key text, per_minute integer, burst integer, cost integer default 1)
returns table (allowed boolean, remaining integer, retry_after_ms bigint, reset_after_ms bigint)
language sql volatile security invoker
set search_path = ''
as $$
  with limits as (
    select clock_timestamp() as now,
           interval '1 minute' / greatest(per_minute, 1) as emission,
           (interval '1 minute' / greatest(per_minute, 1)) * greatest(burst, 1) as tolerance,
           per_minute > 0 and cost >= 1 and cost <= greatest(burst, 1) as admissible
  ), taken as (
    insert into private.rate_limits as r (key, tat)
    select rate_limit_take.key, l.now + l.emission * cost from limits l where l.admissible
    on conflict (key) do update
      set tat = greatest(r.tat + (select emission from limits) * cost, excluded.tat)
      where greatest(r.tat + (select emission from limits) * cost, excluded.tat) - (select tolerance from limits)
            <= (select now from limits)
    returning r.tat
  ), state as (
    select l.*,
           (select t.tat from taken t) as taken_tat,
           (select r.tat from private.rate_limits r where r.key = rate_limit_take.key) as stored_tat
    from limits l
  )
  select
    s.taken_tat is not null,
    case
      when not s.admissible then 0
      else greatest(0, floor(extract(epoch from (s.tolerance - (greatest(coalesce(s.taken_tat, s.stored_tat), s.now) - s.now)))
                             / extract(epoch from s.emission)))
    end::integer,
    case
      when s.taken_tat is not null then 0
      when not s.admissible then 60000
      else ceil(extract(epoch from (greatest(s.stored_tat, s.now) + s.emission * cost - s.tolerance - s.now)) * 1000)
    end::bigint,
    ceil(greatest(0, extract(epoch from (coalesce(s.taken_tat, s.stored_tat, s.now) - s.now))) * 1000)::bigint
  from state s
$$;
revoke all on function public.rate_limit_take(text, integer, integer, integer) from public, anon, authenticated, service_role;
grant execute on function public.rate_limit_take(text, integer, integer, integer) to service_role;

-- RPC for the scheduled processor: forget keys whose bucket is full again (their TAT is in the past), in bounded
-- batches so that one call never holds many locks.
create function public.prune_rate_limits(max_rows integer default 10000)
returns integer
language sql volatile security invoker
set search_path = ''
as $$
  with expired as (
    select r.key from private.rate_limits r where r.tat < clock_timestamp() limit max_rows for update skip locked
  ), deleted as (
    delete from private.rate_limits r using expired where r.key = expired.key returning 1
  )
  select count(*)::integer from deleted
$$;
revoke all on function public.prune_rate_limits(integer) from public, anon, authenticated, service_role;
grant execute on function public.prune_rate_limits(integer) to service_role;
