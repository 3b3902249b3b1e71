-- The generation engine's SQL: jobs written by the generate function (progress kept for a dropped connection),
-- daily LLM allowances per tier in runtime_config, and the spend a job checks before it starts.

alter table public.runtime_config
  add column free_daily_llm_usd numeric(10, 2) not null default 0.50 check (free_daily_llm_usd >= 0),
  add column pro_daily_llm_usd numeric(10, 2) not null default 5.00 check (pro_daily_llm_usd >= 0),
  add column b2b_daily_llm_usd numeric(10, 2) not null default 50.00 check (b2b_daily_llm_usd >= 0);

-- RPC: a job starts; returns its id.
create function public.create_generation_job(
  organization_id uuid, requested_by uuid, request jsonb, deadline_at timestamptz
)
returns uuid
language sql volatile security invoker
set search_path = ''
as $$
  insert into public.generation_jobs (organization_id, requested_by, status, request, deadline_at)
  values (create_generation_job.organization_id, create_generation_job.requested_by, 'running',
          create_generation_job.request, create_generation_job.deadline_at)
  returning id
$$;

-- RPC: one progress event, appended in order.
create function public.append_generation_progress(job_id uuid, event jsonb)
returns void
language sql volatile security invoker
set search_path = ''
as $$
  update public.generation_jobs j
  set progress = j.progress || jsonb_build_array(append_generation_progress.event), updated_at = now()
  where j.id = append_generation_progress.job_id
$$;

-- RPC: a job ends (succeeded, quarantined or failed), with its result or error and the capsule it saved.
create function public.finish_generation_job(job_id uuid, status text, result jsonb, error text, capsule_id uuid)
returns void
language sql volatile security invoker
set search_path = ''
as $$
  update public.generation_jobs j
  set status = finish_generation_job.status, result = finish_generation_job.result,
      error = finish_generation_job.error, capsule_id = finish_generation_job.capsule_id, updated_at = now()
  where j.id = finish_generation_job.job_id
$$;

-- RPC: an organization's tier, its LLM spend today (UTC) and its daily allowance, for the check before a job.
create function public.llm_allowance(organization_id uuid)
returns table (tier public.tier, spent_usd double precision, allowance_usd double precision)
language sql stable security invoker
set search_path = ''
as $$
  select o.tier,
         coalesce((select u.llm_cost_usd from public.usage_ledger u
                   where u.organization_id = o.id and u.day = (now() at time zone 'utc')::date), 0)::float8,
         (select case o.tier when 'free' then c.free_daily_llm_usd when 'pro' then c.pro_daily_llm_usd
                             else c.b2b_daily_llm_usd end
          from public.runtime_config c where c.singleton)::float8
  from public.organizations o
  where o.id = llm_allowance.organization_id
$$;

revoke all on function public.create_generation_job(uuid, uuid, jsonb, timestamptz) from public, anon, authenticated, service_role;
revoke all on function public.append_generation_progress(uuid, jsonb) from public, anon, authenticated, service_role;
revoke all on function public.finish_generation_job(uuid, text, jsonb, text, uuid) from public, anon, authenticated, service_role;
revoke all on function public.llm_allowance(uuid) from public, anon, authenticated, service_role;
grant execute on function public.create_generation_job(uuid, uuid, jsonb, timestamptz) to service_role;
grant execute on function public.append_generation_progress(uuid, jsonb) to service_role;
grant execute on function public.finish_generation_job(uuid, text, jsonb, text, uuid) to service_role;
grant execute on function public.llm_allowance(uuid) to service_role;
