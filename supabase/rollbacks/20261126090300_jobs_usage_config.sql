-- Rolls back 20261126090300_jobs_usage_config.sql.
drop function if exists public.record_usage(uuid, integer, bigint, bigint, numeric, bigint, bigint);
drop table if exists public.runtime_config;
drop table if exists public.usage_ledger;
drop table if exists public.generation_jobs;
