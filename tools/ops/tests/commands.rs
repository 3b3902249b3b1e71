//! The emergency commands against a real PostgreSQL (migrated as Supabase's would be): each switch changes
//! runtime_config, is logged with its reason, shows in the status, and stops the guard's admissions within its cache
//! time; bad input is refused before anything is changed.

use codecapsule_core::access::{Caller, Feature, GuardError};
use codecapsule_test_support::postgres::TempPostgres;
use std::process::{Command, Output};
use std::time::Duration;

fn ops(postgres: &TempPostgres, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_codecapsule-ops"))
        .args(args)
        .env_remove("SUPABASE_URL")
        .env("DATABASE_URL", &postgres.url)
        .output()
        .expect("the ops binary runs")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

#[tokio::test]
async fn switches_change_what_the_functions_read_and_say_since_when() {
    let postgres = TempPostgres::start().await;
    let deployment = postgres.deployment(2);
    let caller = Caller { bearer: None, ip: "203.0.113.7".into(), organization: None };
    assert!(deployment.guard.admit(Feature::Judging, &caller).await.is_ok());

    let status = ops(&postgres, &["status"]);
    assert!(status.status.success(), "{}", text(&status));
    assert!(text(&status).contains("judging_enabled        true   as deployed"), "{}", text(&status));

    let disabled = ops(&postgres, &["disable", "judging", "--reason", "credit burn"]);
    assert!(disabled.status.success(), "{}", text(&disabled));
    let shown = text(&disabled);
    let line = shown.lines().find(|line| line.starts_with("judging_enabled")).unwrap();
    assert!(line.contains("false") && line.contains(" since 20") && line.ends_with(": credit burn"), "{line}");
    // The guard caches runtime_config for 1 s here (30 s in production): after it, judging is refused.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    match deployment.guard.admit(Feature::Judging, &caller).await {
        Err(GuardError::Disabled { feature, reason }) => {
            assert_eq!((feature, reason.as_deref()), ("judging", Some("credit burn")));
        }
        other => panic!("judging should be switched off: {other:?}"),
    }

    let throttled = ops(&postgres, &["rate-limit", "0.1"]);
    assert!(throttled.status.success(), "{}", text(&throttled));
    assert!(text(&throttled).contains("rate_limit_multiplier  0.100"), "{}", text(&throttled));
    let enabled = ops(&postgres, &["enable", "judging"]);
    assert!(text(&enabled).contains("judging_enabled        true   since"), "{}", text(&enabled));

    // Refused: out of range (by the database), an unknown feature and a bad number (before connecting).
    let out_of_range = ops(&postgres, &["rate-limit", "-1"]);
    assert_eq!(out_of_range.status.code(), Some(1));
    assert!(text(&out_of_range).contains("out of range"), "{}", text(&out_of_range));
    for args in [&["disable", "everything"][..], &["rate-limit", "lots"], &["reboot"]] {
        assert_eq!(ops(&postgres, args).status.code(), Some(2), "{args:?}");
    }
    let changes: i64 = postgres
        .client()
        .await
        .query_one("select count(*) from public.runtime_config_changes", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(changes, 3, "each accepted change is logged, nothing else");
}
