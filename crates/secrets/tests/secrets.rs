//! Secrets from Secrets Manager, played by moto_server (started here on a free port): fetched lazily, cached for the
//! TTL, refreshed on demand after a rotation; missing secrets and unset variables are clear errors.

use codecapsule_secrets::{SecretError, SecretSource, SecretsManagerSecret};
use codecapsule_test_support::start_moto;
use std::time::Duration;

#[tokio::test]
async fn secrets_manager_secrets_are_cached_and_refreshed() {
    let (_moto, endpoint) = start_moto();
    // SAFETY: this binary's only test sets them before any SDK client reads the environment.
    unsafe {
        std::env::set_var("AWS_ENDPOINT_URL", &endpoint);
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
        std::env::set_var("AWS_REGION", "eu-west-1");
        std::env::set_var("SUPABASE_TEST_SECRET_ID", "codecapsule/supabase-readonly");
    }
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let admin = aws_sdk_secretsmanager::Client::new(&config);
    admin.create_secret().name("codecapsule/supabase-readonly").secret_string("key-v1").send().await.unwrap();

    let source = SecretSource::from_env("SUPABASE_TEST_SECRET_ID", "SUPABASE_TEST_KEY").unwrap();
    assert!(matches!(source, SecretSource::SecretsManager(_)));
    assert_eq!(source.get().await.unwrap().expose(), "key-v1");

    // Rotated on the server: the cache keeps serving the old value until it is refreshed.
    admin.put_secret_value().secret_id("codecapsule/supabase-readonly").secret_string("key-v2").send().await.unwrap();
    assert_eq!(source.get().await.unwrap().expose(), "key-v1", "cached for the TTL");
    assert_eq!(source.refresh().await.unwrap().expose(), "key-v2", "refresh after an auth failure");
    assert_eq!(source.get().await.unwrap().expose(), "key-v2");

    // A zero TTL fetches every time.
    let uncached = SecretsManagerSecret::new("codecapsule/supabase-readonly".into(), Duration::ZERO);
    admin.put_secret_value().secret_id("codecapsule/supabase-readonly").secret_string("key-v3").send().await.unwrap();
    assert_eq!(uncached.get().await.unwrap().expose(), "key-v3");

    let missing = SecretsManagerSecret::new("codecapsule/nope".into(), Duration::from_secs(60));
    let err = missing.get().await.unwrap_err();
    assert!(matches!(err, SecretError::NotFound { .. }), "{err}");
    assert!(err.to_string().contains("codecapsule/nope"));

    // Without a secret id, the value comes from the environment (Azure app settings, local runs).
    let from_env = SecretSource::from_env("NO_SUCH_SECRET_ID_VAR", "SUPABASE_TEST_KEY").unwrap();
    let err = from_env.get().await.unwrap_err();
    assert_eq!(err.to_string(), "environment variable SUPABASE_TEST_KEY is not set: set it to the secret's value");
}
