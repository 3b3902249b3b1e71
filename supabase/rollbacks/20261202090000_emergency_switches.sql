-- Rolls back 20261202090000_emergency_switches.sql.
drop function if exists public.runtime_status();
drop function if exists public.set_rate_limit_multiplier(numeric, text);
drop function if exists public.set_feature_enabled(text, boolean, text);
drop table if exists public.runtime_config_changes;
