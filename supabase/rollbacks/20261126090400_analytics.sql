-- Rolls back 20261126090400_analytics.sql.
drop table if exists analytics.rollup_watermark;
drop table if exists analytics.capsule_hourly_stats;
drop table if exists analytics.events;
drop function if exists private.capsules_of_caller();
drop schema if exists analytics;
