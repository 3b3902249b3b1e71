-- Rolls back 20261126090700_generation.sql.
drop function if exists public.llm_allowance(uuid);
drop function if exists public.finish_generation_job(uuid, text, jsonb, text, uuid);
drop function if exists public.append_generation_progress(uuid, jsonb);
drop function if exists public.create_generation_job(uuid, uuid, jsonb, timestamptz);
alter table public.runtime_config
  drop column if exists b2b_daily_llm_usd,
  drop column if exists pro_daily_llm_usd,
  drop column if exists free_daily_llm_usd;
