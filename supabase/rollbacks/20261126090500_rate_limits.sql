-- Rolls back 20261126090500_rate_limits.sql.
drop function if exists public.prune_rate_limits(integer);
drop function if exists public.rate_limit_take(text, integer, integer, integer);
drop table if exists private.rate_limits;
