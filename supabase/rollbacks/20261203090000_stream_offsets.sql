-- Rolls back 20261203090000_stream_offsets.sql.
drop function if exists public.stream_offsets(text);
drop function if exists public.ingest_stream_events(text, integer, bigint, bigint, jsonb);
drop table if exists analytics.stream_offsets;
