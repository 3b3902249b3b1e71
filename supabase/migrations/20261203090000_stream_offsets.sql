-- The analytics processor's place in each partition of the event stream (Azure Event Hubs through its Kafka
-- endpoint), kept here rather than in a Kafka consumer group: the offsets move in the transaction that stores the
-- events they cover, so that a crash before its commit re-reads those records and a crash after it re-reads nothing.

create table analytics.stream_offsets (
  topic text not null,
  partition integer not null check (partition >= 0),
  -- The offset of the next record to read.
  next_offset bigint not null check (next_offset >= 0),
  updated_at timestamptz not null default now(),
  primary key (topic, partition)
);
alter table analytics.stream_offsets enable row level security;
grant all on table analytics.stream_offsets to service_role;

-- RPC: stores the events read from one partition, from `from_offset` up to (not including) `to_offset`, and moves the
-- partition's offset to `to_offset`, in one transaction. `from_offset` is where the caller started reading: the
-- offset it was given (null when the partition had none stored yet). When another processor moved the offset in the
-- meantime, nothing is stored (SQLSTATE PT409): that processor stored these events. Duplicates are skipped as by
-- ingest_events (the same event sent twice by a widget that retried is two records with one event_id). `to_offset` may
-- be below `from_offset`: a hub deleted and made again starts its offsets over, and the reader starts from its start.
create function public.ingest_stream_events(
  topic text, partition integer, from_offset bigint, to_offset bigint, events jsonb
)
returns table (accepted integer, duplicates integer)
language plpgsql volatile security invoker
set search_path = ''
as $$
declare
  stored bigint;
begin
  select o.next_offset into stored from analytics.stream_offsets o
  where o.topic = ingest_stream_events.topic and o.partition = ingest_stream_events.partition
  for update;
  if stored is distinct from from_offset then
    raise exception 'partition % of % is at offset %, not %', partition, topic, stored, from_offset
      using errcode = 'PT409', hint = 'another processor read these records: read the offsets again';
  end if;
  insert into analytics.stream_offsets as o (topic, partition, next_offset)
  values (ingest_stream_events.topic, ingest_stream_events.partition, to_offset)
  on conflict on constraint stream_offsets_pkey do update set next_offset = excluded.next_offset, updated_at = now();
  return query select * from public.ingest_events(events);
end
$$;
revoke all on function public.ingest_stream_events(text, integer, bigint, bigint, jsonb)
  from public, anon, authenticated, service_role;
grant execute on function public.ingest_stream_events(text, integer, bigint, bigint, jsonb) to service_role;

-- RPC: the stored offsets of a topic's partitions.
create function public.stream_offsets(topic text)
returns table (partition integer, next_offset bigint)
language sql stable security invoker
set search_path = ''
as $$
  select o.partition, o.next_offset from analytics.stream_offsets o
  where o.topic = stream_offsets.topic order by o.partition
$$;
revoke all on function public.stream_offsets(text) from public, anon, authenticated, service_role;
grant execute on function public.stream_offsets(text) to service_role;
