-- Rolls back 20261204090000_dashboard.sql.
drop function if exists public.capsule_stats(uuid, timestamptz, timestamptz);
drop function if exists public.organization_capsules(uuid);
