//! The object store's S3 backend against moto_server's S3 (started here on a free port), as Cloudflare R2 is reached:
//! a custom endpoint, path-style URLs, static keys. Capsules land under their content hash, without their solution.

use codecapsule_ai::objects::{ObjectError, ObjectStore, s3::S3Store};
use codecapsule_core::config::Secret;
use codecapsule_core::model::Capsule;
use codecapsule_test_support::start_moto;
use serde_json::json;

#[tokio::test]
async fn capsules_are_published_by_content_hash_without_their_solution() {
    let (_moto, endpoint) = start_moto();
    let keys = Some((Secret::new("testing".into()), Secret::new("testing".into())));
    let store = S3Store::new("capsules".into(), Some(endpoint.clone()), "us-east-1".into(), keys.clone());
    // The bucket, made with a plain HTTP PUT (path style), as an operator would have made it in R2's dashboard.
    let made = reqwest::Client::new().put(format!("{endpoint}/capsules")).send().await.unwrap();
    assert!(made.status().is_success(), "{made:?}");

    let capsule: Capsule = serde_json::from_value(json!({
        "title": "Sum", "language": "python", "starter": {"source": "# TODO"},
        "solution": {"source": "print(sum(map(int, input().split())))"},
        "tests": [
            {"stdin": "1 2\n", "expected_stdout": "3\n"},
            {"id": "secret", "stdin": "HIDDEN-STDIN-40 2\n", "expected_stdout": "HIDDEN-EXPECTED-42\n", "hidden": true},
            {"id": "secret-call", "args": [7123457], "expected_result": [9876541], "hidden": true, "weight": 2}
        ],
        "explanation_md": "SOLVED-BY-SUMMING"
    }))
    .unwrap();
    let objects = ObjectStore::S3(store.clone());
    let key = objects.put_capsule(&capsule).await.unwrap();
    assert!(
        key.starts_with("capsules/") && key.ends_with(".json") && key.len() == "capsules/.json".len() + 64,
        "{key}"
    );
    assert_eq!(objects.put_capsule(&capsule).await.unwrap(), key, "the same content, the same key");
    let stored: serde_json::Value = serde_json::from_slice(&store.get(&key).await.unwrap()).unwrap();
    assert_eq!(stored["title"], "Sum");
    // The raw bytes, not a parse of them: no byte of a hidden test, the solution or the explanation.
    let raw = String::from_utf8(store.get(&key).await.unwrap()).unwrap();
    for secret in ["print(sum", "HIDDEN-STDIN", "HIDDEN-EXPECTED", "7123457", "9876541", "SOLVED-BY"] {
        assert!(!raw.contains(secret), "{secret} reached the object store: {raw}");
    }
    assert_eq!(stored["tests"][1], json!({"id": "secret", "hidden": true, "weight": 1.0}));
    assert_eq!(stored["tests"][2], json!({"id": "secret-call", "hidden": true, "weight": 2.0}));
    assert_eq!(stored["tests"][0]["stdin"], "1 2\n", "visible tests are published whole");

    let missing = ObjectStore::S3(S3Store::new("no-such-bucket".into(), Some(endpoint), "us-east-1".into(), keys));
    let err = missing.put_capsule(&capsule).await.unwrap_err();
    assert!(matches!(&err, ObjectError::Upload { bucket, .. } if bucket == "no-such-bucket"), "{err}");
    assert!(err.to_string().contains("check OBJECTS_S3_"), "{err}");
}
