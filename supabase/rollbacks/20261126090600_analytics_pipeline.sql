-- Rolls back 20261126090600_analytics_pipeline.sql.
drop function if exists public.prune_analytics_events(integer, integer);
drop function if exists public.rollup_analytics();
drop function if exists analytics.hourly_stats_of(uuid[], timestamptz[]);
drop function if exists public.ingest_events(jsonb);
drop table if exists analytics.daily_salts;
