-- Generation jobs, the usage ledger, and runtime_config (the emergency switches).

create table public.generation_jobs (
  id uuid primary key default gen_random_uuid(),
  organization_id uuid not null references public.organizations (id) on delete cascade,
  requested_by uuid references auth.users (id) on delete set null,
  status text not null default 'queued'
    check (status in ('queued', 'running', 'succeeded', 'failed', 'quarantined', 'cancelled')),
  request jsonb not null check (jsonb_typeof(request) = 'object'),
  -- The progress events streamed to the client, kept so that a dropped connection can read them back.
  progress jsonb not null default '[]'::jsonb check (jsonb_typeof(progress) = 'array'),
  result jsonb,
  error text,
  capsule_id uuid references public.capsules (id) on delete set null,
  deadline_at timestamptz not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index generation_jobs_organization_idx on public.generation_jobs (organization_id, created_at desc);

-- One row per organization and UTC day; the functions add to it through record_usage.
create table public.usage_ledger (
  organization_id uuid not null references public.organizations (id) on delete cascade,
  day date not null,
  llm_calls integer not null default 0 check (llm_calls >= 0),
  llm_prompt_tokens bigint not null default 0 check (llm_prompt_tokens >= 0),
  llm_completion_tokens bigint not null default 0 check (llm_completion_tokens >= 0),
  llm_cost_usd numeric(14, 6) not null default 0 check (llm_cost_usd >= 0),
  judge_runs bigint not null default 0 check (judge_runs >= 0),
  judge_cpu_ms bigint not null default 0 check (judge_cpu_ms >= 0),
  primary key (organization_id, day)
);

-- One row: what operators change in an emergency without a deploy. Each function instance caches it for at most
-- 30 seconds.
create table public.runtime_config (
  singleton boolean primary key default true check (singleton),
  -- Multiplies every tier's per-minute allowance: 0.5 halves traffic, 0 admits nothing.
  rate_limit_multiplier numeric(6, 3) not null default 1 check (rate_limit_multiplier >= 0),
  free_per_minute integer not null default 10 check (free_per_minute >= 0),
  pro_per_minute integer not null default 100 check (pro_per_minute >= 0),
  b2b_per_minute integer not null default 1000 check (b2b_per_minute >= 0),
  -- Kill switches per feature: generation first (it spends money), then judging and event ingestion.
  generation_enabled boolean not null default true,
  judging_enabled boolean not null default true,
  ingest_enabled boolean not null default true,
  reason text,
  updated_at timestamptz not null default now()
);
insert into public.runtime_config (singleton) values (true);

alter table public.generation_jobs enable row level security;
alter table public.usage_ledger enable row level security;
alter table public.runtime_config enable row level security;

revoke all on table public.generation_jobs, public.usage_ledger, public.runtime_config from anon, authenticated;
grant select on table public.generation_jobs, public.usage_ledger to authenticated;
grant all on table public.generation_jobs, public.usage_ledger, public.runtime_config to service_role;

create policy generation_jobs_read_by_members on public.generation_jobs
  for select to authenticated
  using (organization_id in (select private.organizations_of_caller()));
create policy usage_read_by_members on public.usage_ledger
  for select to authenticated
  using (organization_id in (select private.organizations_of_caller()));
-- runtime_config: no policy for anon or authenticated (denied); service_role bypasses RLS.

-- RPC for the functions: add to today's (UTC) usage of an organization.
create function public.record_usage(
  organization_id uuid,
  llm_calls integer default 0,
  llm_prompt_tokens bigint default 0,
  llm_completion_tokens bigint default 0,
  llm_cost_usd numeric default 0,
  judge_runs bigint default 0,
  judge_cpu_ms bigint default 0
)
returns void
language sql security invoker
set search_path = ''
as $$
  insert into public.usage_ledger as u
    (organization_id, day, llm_calls, llm_prompt_tokens, llm_completion_tokens, llm_cost_usd, judge_runs, judge_cpu_ms)
  values (
    record_usage.organization_id, (now() at time zone 'utc')::date, record_usage.llm_calls,
    record_usage.llm_prompt_tokens, record_usage.llm_completion_tokens, record_usage.llm_cost_usd,
    record_usage.judge_runs, record_usage.judge_cpu_ms
  )
  on conflict (organization_id, day) do update set
    llm_calls = u.llm_calls + excluded.llm_calls,
    llm_prompt_tokens = u.llm_prompt_tokens + excluded.llm_prompt_tokens,
    llm_completion_tokens = u.llm_completion_tokens + excluded.llm_completion_tokens,
    llm_cost_usd = u.llm_cost_usd + excluded.llm_cost_usd,
    judge_runs = u.judge_runs + excluded.judge_runs,
    judge_cpu_ms = u.judge_cpu_ms + excluded.judge_cpu_ms
$$;
revoke all on function public.record_usage(uuid, integer, bigint, bigint, numeric, bigint, bigint)
  from public, anon, authenticated, service_role;
grant execute on function public.record_usage(uuid, integer, bigint, bigint, numeric, bigint, bigint) to service_role;
