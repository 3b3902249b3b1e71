//! The processor reading the event stream as it reads Event Hubs' Kafka endpoint: widget events sent through the
//! Event Hubs stand-in into a real Kafka-protocol broker (tansu), read by `process` into a real PostgreSQL. Exactly
//! once under a crash before a read's commit and one after it, redelivered duplicates, late events, records that are
//! not events, and two processors at once.

use analytics_processor::process;
use analytics_processor::stream::{self, STREAM_BUDGET};
use chrono::{DateTime, Duration as Span, DurationRound, Utc};
use codecapsule_core::analytics::{AnalyticsConfig, EventType, ValidEvent};
use codecapsule_test_support::eventhubs::{HUB, HubStandIn};
use codecapsule_test_support::kafka::TempBroker;
use codecapsule_test_support::postgres::{TempPostgres, assert_stats_equal_recomputation};
use codecapsule_test_support::stream::StreamPath;
use serde_json::json;
use uuid::Uuid;

fn event(capsule: Uuid, kind: EventType, visitor: &str, ts: DateTime<Utc>) -> ValidEvent {
    ValidEvent {
        event_id: Uuid::new_v4(),
        capsule_id: capsule,
        kind,
        visitor_id: Some(visitor.into()),
        session_id: Some("s1".into()),
        ts,
        duration_ms: (kind == EventType::Run).then_some(120),
        language: Some("python".into()),
        widget_version: Some("1.2.0".into()),
    }
}

/// `count` events spread over `capsules` (so over the partitions) and the two hours before this one.
fn events(capsules: &[Uuid], count: usize, this_hour: DateTime<Utc>) -> Vec<ValidEvent> {
    let kinds = [EventType::View, EventType::Run, EventType::Submit, EventType::Pass];
    (0..count)
        .map(|i| {
            let hour = this_hour - Span::hours(1 + (i % 2) as i64);
            let visitor = format!("visitor-{}", i % 7);
            event(capsules[i % capsules.len()], kinds[i % kinds.len()], &visitor, hour + Span::minutes((i % 60) as i64))
        })
        .collect()
}

async fn events_stored(client: &tokio_postgres::Client) -> i64 {
    client.query_one("select count(*) from analytics.events", &[]).await.unwrap().get(0)
}

#[tokio::test]
async fn the_stream_is_rolled_up_exactly_once() {
    let StreamPath { client, store, hub, stream, .. } = &StreamPath::start(3).await;
    let config = AnalyticsConfig::default();
    let capsules: Vec<Uuid> = (0..5).map(|_| Uuid::new_v4()).collect();
    let this_hour = Utc::now().duration_trunc(Span::hours(1)).unwrap();

    // A batch, and the same batch again: the widget retried after the edge had forwarded it.
    let first = events(&capsules, 30, this_hour);
    assert_eq!(hub.send(&first).await, 201);
    assert_eq!(hub.send(&first).await, 201);
    let report = process(store, &config, Some(stream)).await.unwrap();
    let read = report.stream.clone().expect("the stream was read");
    assert_eq!((read.partitions, read.records, read.accepted, read.duplicates, read.rejected), (3, 60, 30, 30, 0));
    assert!(read.caught_up && read.error.is_none(), "{read:?}");
    assert_eq!(report.rollup.events, 30);
    assert_stats_equal_recomputation(client).await;
    let idle = process(store, &config, Some(stream)).await.unwrap();
    assert_eq!((idle.stream.unwrap().records, idle.rollup.events), (0, 0), "nothing new, nothing read");

    // A crash between storing a read's events and its commit (a trigger on the offsets' row fails the transaction
    // once, as a process dying there would end it): nothing of the read is stored, and the next run reads it again.
    client
        .batch_execute(
            "create sequence public.test_crashes;
             create function public.test_crash_once() returns trigger language plpgsql security definer as $$
             begin
               if nextval('public.test_crashes') = 1 then raise exception 'the processor died here'; end if;
               return new;
             end $$;
             create trigger test_crash_once before insert or update on analytics.stream_offsets
               for each row execute function public.test_crash_once();",
        )
        .await
        .unwrap();
    // Late events too: for hours already rolled up.
    let second = events(&capsules, 12, this_hour);
    assert_eq!(hub.send(&second).await, 201);
    let crashed = process(store, &config, Some(stream)).await.unwrap();
    let crashed_read = crashed.stream.unwrap();
    assert!(crashed_read.error.as_deref().is_some_and(|error| error.contains("died here")), "{crashed_read:?}");
    assert_eq!((crashed_read.accepted, crashed.rollup.events), (0, 0));
    assert_eq!(events_stored(client).await, 30, "the crashed read stored nothing");
    let recovered = process(store, &config, Some(stream)).await.unwrap();
    assert_eq!((recovered.stream.unwrap().accepted, recovered.rollup.events), (12, 12));
    assert_stats_equal_recomputation(client).await;

    // A crash after a read's commit, before the rollup: the next run reads nothing again and rolls the events up once.
    let third = events(&capsules, 9, this_hour);
    assert_eq!(hub.send(&third).await, 201);
    let stored_only = stream::consume(store, stream, &config, STREAM_BUDGET).await;
    assert_eq!((stored_only.accepted, stored_only.error.clone()), (9, None));
    let after_crash = process(store, &config, Some(stream)).await.unwrap();
    assert_eq!((after_crash.stream.unwrap().records, after_crash.rollup.events), (0, 9));
    assert_stats_equal_recomputation(client).await;

    // Records that are not events the edge accepts (not JSON; from the future as of the hub's clock) are skipped,
    // counted, never stored, and do not stop their partition.
    let future = event(capsules[0], EventType::View, "v", Utc::now() + Span::hours(2));
    let fine = event(capsules[0], EventType::View, "v", Utc::now());
    let body = json!([
        {"Body": "not json", "BrokerProperties": {"PartitionKey": capsules[0].to_string()}},
        {"Body": serde_json::to_string(&future).unwrap(), "BrokerProperties": {"PartitionKey": capsules[0].to_string()}},
        {"Body": serde_json::to_string(&fine).unwrap(), "BrokerProperties": {"PartitionKey": capsules[0].to_string()}},
    ]);
    assert_eq!(hub.send_body(serde_json::to_vec(&body).unwrap()).await, 201);
    let skipped = process(store, &config, Some(stream)).await.unwrap().stream.unwrap();
    assert_eq!((skipped.records, skipped.accepted, skipped.rejected), (3, 1, 2));
    assert_eq!(process(store, &config, Some(stream)).await.unwrap().stream.unwrap().records, 0);

    // Two processors at once: each partition's records are stored by one of them.
    let fourth = events(&capsules, 40, this_hour);
    assert_eq!(hub.send(&fourth).await, 201);
    let (a, b) = tokio::join!(
        stream::consume(store, stream, &config, STREAM_BUDGET),
        stream::consume(store, stream, &config, STREAM_BUDGET)
    );
    assert_eq!((a.error.clone(), b.error.clone()), (None, None));
    assert_eq!(a.accepted + b.accepted, 40, "{a:?} {b:?}");
    process(store, &config, Some(stream)).await.unwrap();
    assert_eq!(events_stored(client).await, 30 + 12 + 9 + 1 + 40);
    assert_stats_equal_recomputation(client).await;
    assert_eq!(hub.hub.messages().len(), 60 + 12 + 9 + 3 + 40, "the stand-in kept every message it took");
}

#[tokio::test]
async fn each_run_reads_only_what_is_new() {
    let StreamPath { store, hub, stream, .. } = &StreamPath::start(4).await;
    let config = AnalyticsConfig::default();
    let this_hour = Utc::now().duration_trunc(Span::hours(1)).unwrap();
    // One capsule a round (so one partition gets the batch and the others are caught up), as widgets send.
    for round in 0..6 {
        let capsule = [Uuid::new_v4()];
        let size = if round == 5 { 1 } else { 100 };
        assert_eq!(hub.send(&events(&capsule, size, this_hour)).await, 201);
        let read = process(store, &config, Some(stream)).await.unwrap().stream.unwrap();
        assert_eq!(
            (read.records, read.accepted, read.caught_up),
            (size as u64, size as u64, true),
            "round {round}: {read:?}"
        );
    }
    let idle = process(store, &config, Some(stream)).await.unwrap().stream.unwrap();
    assert_eq!(idle.records, 0, "{idle:?}");
}

#[tokio::test]
async fn a_hub_made_again_is_read_from_its_start() {
    let StreamPath { client, store, broker, hub, stream, .. } = &StreamPath::start(2).await;
    let config = AnalyticsConfig::default();
    let capsules: Vec<Uuid> = (0..4).map(|_| Uuid::new_v4()).collect();
    let this_hour = Utc::now().duration_trunc(Span::hours(1)).unwrap();
    assert_eq!(hub.send(&events(&capsules, 20, this_hour)).await, 201);
    assert_eq!(process(store, &config, Some(stream)).await.unwrap().stream.unwrap().accepted, 20);

    // The hub is deleted and made again: its offsets start over, below the stored ones.
    broker.delete_topic(HUB).await;
    let remade = HubStandIn::start(Some((&broker.bootstrap, 2))).await;
    assert_eq!(remade.send(&events(&capsules, 5, this_hour)).await, 201);
    let read = process(store, &config, Some(stream)).await.unwrap().stream.unwrap();
    assert_eq!((read.records, read.accepted, read.caught_up), (5, 5, true), "{read:?}");
    assert_eq!(events_stored(client).await, 25);
    assert_stats_equal_recomputation(client).await;
}

#[tokio::test]
async fn an_unreachable_stream_fails_the_run_after_the_rollup() {
    let postgres = TempPostgres::start().await;
    let client = postgres.client().await;
    client
        .batch_execute(
            "insert into analytics.events (event_id, capsule_id, type, occurred_at)
             values (gen_random_uuid(), gen_random_uuid(), 'view', now())",
        )
        .await
        .unwrap();
    let store = postgres.deployment(1).store.expect("a store");
    // A broker that is gone: nothing listens on its port any more.
    let nowhere = {
        let broker = TempBroker::start();
        broker.stream_config(HUB)
    };
    let report = process(&store, &AnalyticsConfig::default(), Some(&nowhere)).await.unwrap();
    let read = report.stream.unwrap();
    assert!(read.error.as_deref().is_some_and(|error| error.contains("cannot be reached")), "{read:?}");
    assert!(!read.caught_up);
    assert_eq!(report.rollup.events, 1, "what was stored directly is still rolled up");
}
