//! The embedded cluster of `make run` when a second dev host of the same checkout starts beside the first: the second
//! is refused with the reason, and the first's database keeps serving (it used to be stopped by the second's failed
//! start).

use codecapsule_devdb::local::{LocalPostgres, LocalPostgresError};
use std::net::{Ipv4Addr, TcpListener, TcpStream};

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap().local_addr().unwrap().port()
}

#[test]
fn a_second_start_of_a_running_cluster_is_refused_and_leaves_it_running() {
    let directory = std::env::temp_dir().join(format!("codecapsule-devdb-{}", uuid::Uuid::new_v4().simple()));
    let first = LocalPostgres::start(&directory, free_port()).unwrap();
    match LocalPostgres::start(&directory, free_port()) {
        Err(LocalPostgresError::InUse { pid, .. }) => assert!(pid > 0),
        Err(other) => panic!("expected the cluster to be reported in use, got: {other}"),
        Ok(_) => panic!("a second server started on a running cluster's directory"),
    }
    assert!(
        TcpStream::connect((Ipv4Addr::LOCALHOST, first.port())).is_ok(),
        "the first cluster stopped when the second was refused"
    );
    drop(first);
    // Stopped by its owner, the cluster starts again (a stale postmaster.pid would not stop it either).
    let again = LocalPostgres::start(&directory, free_port()).unwrap();
    drop(again);
    let _ = std::fs::remove_dir_all(&directory);
}
