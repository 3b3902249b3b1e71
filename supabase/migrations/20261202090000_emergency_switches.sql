-- The emergency commands' SQL (`make disable`, `make enable`, `make emergency-rate-limit`, `make status`): each change
-- of runtime_config is made by one function, which also writes it to a log, so that the status can say what is
-- switched, since when, by whom and why. The functions read runtime_config at most 30 s old (their cache).

create table public.runtime_config_changes (
  id bigint generated always as identity primary key,
  at timestamptz not null default now(),
  -- One of runtime_config's settings.
  setting text not null check (setting in ('generation_enabled', 'judging_enabled', 'ingest_enabled', 'rate_limit_multiplier')),
  value text not null,
  reason text,
  changed_by text not null default current_user
);
create index runtime_config_changes_by_setting on public.runtime_config_changes (setting, at desc);

alter table public.runtime_config_changes enable row level security;
revoke all on table public.runtime_config_changes from anon, authenticated;
grant all on table public.runtime_config_changes to service_role;
-- runtime_config_changes: no policy for anon or authenticated (denied); service_role bypasses RLS.

-- Switches a feature (generation, judging, ingest) on or off, with the reason.
create function public.set_feature_enabled(feature text, enabled boolean, reason text)
returns void
language plpgsql volatile security invoker
set search_path = ''
as $$
begin
  if feature not in ('generation', 'judging', 'ingest') then
    raise exception 'unknown feature %: use generation, judging or ingest', feature using errcode = '22023';
  end if;
  update public.runtime_config c set
    generation_enabled = case when feature = 'generation' then enabled else c.generation_enabled end,
    judging_enabled = case when feature = 'judging' then enabled else c.judging_enabled end,
    ingest_enabled = case when feature = 'ingest' then enabled else c.ingest_enabled end,
    reason = set_feature_enabled.reason,
    updated_at = now()
  where c.singleton;
  insert into public.runtime_config_changes (setting, value, reason)
  values (feature || '_enabled', enabled::text, set_feature_enabled.reason);
end;
$$;

-- Multiplies every tier's per-minute allowance by `factor` (1 is normal, 0.1 lets a tenth through, 0 none).
create function public.set_rate_limit_multiplier(factor numeric, reason text)
returns void
language plpgsql volatile security invoker
set search_path = ''
as $$
begin
  if factor is null or factor < 0 or factor > 100 then
    raise exception 'rate limit factor % is out of range: give 0 to 100 (1 is normal)', factor using errcode = '22023';
  end if;
  update public.runtime_config c set rate_limit_multiplier = factor, reason = set_rate_limit_multiplier.reason,
    updated_at = now()
  where c.singleton;
  insert into public.runtime_config_changes (setting, value, reason)
  values ('rate_limit_multiplier', factor::text, set_rate_limit_multiplier.reason);
end;
$$;

-- Each switch as it is now, with its latest change (none: as the migration set it).
create function public.runtime_status()
returns table (setting text, value text, since timestamptz, reason text, changed_by text)
language sql stable security invoker
set search_path = ''
as $$
  with now_set (setting, value) as (
    select s.setting, s.value
    from public.runtime_config c,
      lateral (values
        ('generation_enabled', c.generation_enabled::text),
        ('judging_enabled', c.judging_enabled::text),
        ('ingest_enabled', c.ingest_enabled::text),
        ('rate_limit_multiplier', c.rate_limit_multiplier::text)) as s (setting, value)
    where c.singleton
  )
  select n.setting, n.value, last.at, last.reason, last.changed_by
  from now_set n
  left join lateral (
    select l.at, l.reason, l.changed_by from public.runtime_config_changes l
    where l.setting = n.setting order by l.at desc, l.id desc limit 1
  ) last on true
  order by n.setting;
$$;

revoke all on function public.set_feature_enabled(text, boolean, text) from public, anon, authenticated;
revoke all on function public.set_rate_limit_multiplier(numeric, text) from public, anon, authenticated;
revoke all on function public.runtime_status() from public, anon, authenticated;
grant execute on function public.set_feature_enabled(text, boolean, text) to service_role;
grant execute on function public.set_rate_limit_multiplier(numeric, text) to service_role;
grant execute on function public.runtime_status() to service_role;
