-- Rolls back 20261126090000_tenancy.sql.
drop function if exists public.create_organization(text);
drop trigger if exists on_auth_user_created on auth.users;
drop function if exists private.create_profile_for_new_user();
drop table if exists public.profiles;
drop table if exists public.memberships;
drop table if exists public.organizations;
drop function if exists private.organizations_of_caller(public.member_role[]);
drop type if exists public.member_role;
drop type if exists public.tier;
drop schema if exists private;
