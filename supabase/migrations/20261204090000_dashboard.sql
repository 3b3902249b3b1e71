-- What the dashboard reads: an organization's capsules, and a capsule's hourly stats over a range. Both are SECURITY
-- INVOKER: a member's token reads through the tables' own policies (members read their organizations' capsules and
-- stats); service_role (an organization's API key, checked by the function before it calls) reads what it names.

-- RPC: an organization's capsules, most recently changed first, without their content (a listing, not the tests).
create function public.organization_capsules(organization_id uuid)
returns table (id uuid, slug text, title text, language text, status public.capsule_status,
               visibility public.capsule_visibility, version integer, created_at timestamptz,
               updated_at timestamptz)
language sql stable security invoker
set search_path = ''
as $$
  select c.id, c.slug, c.title, c.language, c.status, c.visibility, c.version, c.created_at, c.updated_at
  from public.capsules c
  where c.organization_id = organization_capsules.organization_id
  order by c.updated_at desc, c.id
$$;
revoke all on function public.organization_capsules(uuid) from public, anon, authenticated, service_role;
grant execute on function public.organization_capsules(uuid) to authenticated, service_role;

-- RPC: a capsule's hourly stats with since <= hour < until, oldest first. The range is bounded (at most 93 days of
-- hours, 2,232 rows) so that one call's answer stays small whatever the caller asks.
create function public.capsule_stats(capsule_id uuid, since timestamptz, until timestamptz)
returns setof analytics.capsule_hourly_stats
language plpgsql stable security invoker
set search_path = ''
as $$
begin
  if since >= until or until - since > interval '93 days' then
    raise exception 'the range must be from 1 hour to 93 days' using errcode = '22023';
  end if;
  return query
  select s.* from analytics.capsule_hourly_stats s
  where s.capsule_id = capsule_stats.capsule_id and s.hour >= since and s.hour < until
  order by s.hour;
end
$$;
revoke all on function public.capsule_stats(uuid, timestamptz, timestamptz) from public, anon, authenticated, service_role;
grant execute on function public.capsule_stats(uuid, timestamptz, timestamptz) to authenticated, service_role;
