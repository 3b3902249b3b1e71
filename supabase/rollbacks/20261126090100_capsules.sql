-- Rolls back 20261126090100_capsules.sql.
drop function if exists public.capsule_by_id(uuid);
drop function if exists public.save_capsule(uuid, jsonb, public.capsule_visibility, public.capsule_status, integer);
drop table if exists public.capsule_solutions;
drop table if exists public.capsules;
drop type if exists public.capsule_status;
drop type if exists public.capsule_visibility;
