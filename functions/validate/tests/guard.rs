//! The guard in front of the public routes, over real HTTP and a real PostgreSQL: judging needs an identity, users'
//! own buckets, user JWTs (HS256 and a JWKS key) and every way a token is refused, organization API keys and their
//! revocation, membership checks, the emergency switches within their cache time, and failing open when the store
//! is down.

use codecapsule_core::config::{HttpConfig, Secret};
use codecapsule_state::guard::Stateful;
use codecapsule_state::guard::auth::AuthConfig;
use codecapsule_state::{StateConfig, Store};
use codecapsule_test_support::postgres::{Fixture, JWT_SECRET, TempPostgres, epoch, sign};
use codecapsule_web::host::{self, Host};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use uuid::Uuid;

const ADD: &str = include_str!("../../../examples/wat-function-add.json");
const ES256_KEY: &[u8] = include_bytes!("../../../crates/state/tests/fixtures/es256-test-only.pem");
const JWKS: &str = include_str!("../../../crates/state/tests/fixtures/jwks-test-only.json");

/// A JWKS endpoint, as Supabase Auth serves one.
async fn jwks_server() -> String {
    let app = axum::Router::new().route(
        "/auth/v1/.well-known/jwks.json",
        axum::routing::get(|| async { ([("content-type", "application/json")], JWKS) }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}/auth/v1/.well-known/jwks.json")
}

/// The validate function behind a guard over `state`, served on a free port; the switches cached for 1 s.
async fn serve(state: &StateConfig) -> String {
    let auth = AuthConfig {
        jwt_secret: Some(Secret::new(JWT_SECRET.into())),
        jwks_url: Some(jwks_server().await),
        audience: "authenticated".into(),
    };
    let deployment = Stateful::new(state, auth, Duration::from_secs(1)).unwrap();
    let local = Host::Local { address: ([127, 0, 0, 1], 0).into() };
    let app = host::app(&[validate::FUNCTION], local, &HttpConfig::default(), &deployment).unwrap();
    let (ready, bound) = tokio::sync::oneshot::channel();
    tokio::spawn(host::serve(app, ([127, 0, 0, 1], 0).into(), local, Some(ready)));
    format!("http://{}", bound.await.unwrap())
}

fn direct(postgres: &TempPostgres) -> StateConfig {
    StateConfig::Direct { url: Secret::new(postgres.url.clone()), ca_cert: None, pool_size: 2 }
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}

async fn judge(base: &str, headers: &[(&str, String)]) -> Answer {
    let mut request =
        reqwest::Client::new().post(format!("{base}/api/judge")).header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.body(ADD).send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(Value::Null);
    Answer { status, headers, body }
}

fn bearer(token: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {token}"))
}

/// A signed-in user of their own (no organization): a bucket of the free tier that no other test shares.
fn fresh_user() -> (&'static str, String) {
    bearer(&sign(&json!({"sub": Uuid::new_v4(), "role": "authenticated", "aud": "authenticated", "exp": epoch(600)})))
}

#[tokio::test]
async fn judging_needs_an_identity_and_users_on_their_own_get_the_free_burst_then_429() {
    let postgres = TempPostgres::start().await;
    let base = serve(&direct(&postgres)).await;
    // POST /api/judge runs whatever it is sent: never for anonymous callers (they run published capsules instead).
    let anonymous = judge(&base, &[]).await;
    assert_eq!((anonymous.status, anonymous.body["code"].as_str()), (401, Some("authentication_required")));
    assert_eq!(anonymous.header("ratelimit"), None, "refused before any bucket");
    let user = [fresh_user()];
    for request in 0..10 {
        let answer = judge(&base, &user).await;
        assert_eq!(answer.status, 200, "request {request}: {}", answer.body);
        assert_eq!(answer.body["verdict"], "accepted");
        assert_eq!(answer.header("ratelimit-policy"), Some("\"free\";q=10;w=60"));
        let state = answer.header("ratelimit").unwrap().to_string();
        assert!(state.starts_with(&format!("\"free\";r={};t=", 9 - request)), "{state}");
    }
    let refused = judge(&base, &user).await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert_eq!(refused.header("content-type"), Some("application/problem+json"));
    assert_eq!(refused.body["code"], "rate_limited");
    let retry: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=6).contains(&retry), "one request frees up every 6 s at 10 a minute: {retry}");
    assert!(refused.header("ratelimit").unwrap().starts_with("\"free\";r=0;"));
    // Another user has a bucket of their own; a malformed X-Organization-Id is a clear 400.
    assert_eq!(judge(&base, &[fresh_user()]).await.status, 200);
    let malformed = judge(&base, &[fresh_user(), ("x-organization-id", "not-a-uuid".into())]).await;
    assert_eq!((malformed.status, malformed.body["code"].as_str()), (400, Some("invalid_header")));
    // The health answer says the guard is on, and over what.
    let health: Value = reqwest::get(format!("{base}/api/health")).await.unwrap().json().await.unwrap();
    assert_eq!(health["guard"]["rate_limits"], "on");
    assert_eq!(health["guard"]["state"], "postgres");
}

#[tokio::test]
async fn user_tokens_are_verified_and_every_bad_one_is_a_401() {
    let postgres = TempPostgres::start().await;
    let fixture = Fixture::create(&postgres.client().await).await;
    let base = serve(&direct(&postgres)).await;
    let user = fixture.member_a.id;
    let claims = |exp: i64, aud: &str| json!({"sub": user, "role": "authenticated", "aud": aud, "exp": exp});
    let es256 = |kid: &str, claims: &Value| {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(kid.into());
        jsonwebtoken::encode(&header, claims, &jsonwebtoken::EncodingKey::from_ec_pem(ES256_KEY).unwrap()).unwrap()
    };

    let accepted = judge(&base, &[bearer(&fixture.member_a.token)]).await;
    assert_eq!(accepted.status, 200, "{}", accepted.body);
    assert_eq!(accepted.header("ratelimit-policy"), Some("\"free\";q=10;w=60"), "a user on their own is free tier");
    let from_jwks = judge(&base, &[bearer(&es256("test-key-1", &claims(epoch(600), "authenticated")))]).await;
    assert_eq!(from_jwks.status, 200, "an ES256 token from the JWKS: {}", from_jwks.body);

    let wrong_secret = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims(epoch(600), "authenticated"),
        &jsonwebtoken::EncodingKey::from_secret(b"another-projects-secret-of-32-chars!!"),
    )
    .unwrap();
    let unsigned = {
        use base64::Engine;
        let part = |value: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string());
        format!("{}.{}.", part(json!({"alg": "none", "typ": "JWT"})), part(claims(epoch(600), "authenticated")))
    };
    let refused = [
        ("expired", sign(&claims(epoch(-600), "authenticated")), "expired"),
        ("wrong signature", wrong_secret, "signature"),
        ("wrong audience", sign(&claims(epoch(600), "someone-else")), "audience"),
        ("alg=none", unsigned, "not a JWT"),
        ("unknown kid", es256("rotated-away", &claims(epoch(600), "authenticated")), "rotated-away"),
        (
            "not a user",
            sign(&json!({"sub": user, "role": "service_role", "aud": "authenticated", "exp": epoch(600)})),
            "role",
        ),
        ("garbage", "abc.def".to_string(), "not a JWT"),
        ("one byte of base64", "a.b.c".to_string(), "not a JWT"),
        ("a JSON header that is not a JWT header", "e30.e30.x".to_string(), "not a JWT"),
    ];
    for (case, token, says) in refused {
        let answer = judge(&base, &[bearer(&token)]).await;
        assert_eq!(answer.status, 401, "{case}: {}", answer.body);
        assert_eq!(answer.header("content-type"), Some("application/problem+json"), "{case}");
        assert_eq!(answer.body["code"], "invalid_token", "{case}");
        let detail = answer.body["detail"].as_str().unwrap();
        assert!(detail.contains(says), "{case}: {detail}");
        // The JWT library's own words (base64 lengths, serde errors) never reach the caller.
        for internal in ["Base64", "base64 error", "Invalid input length", "missing field", "expected value"] {
            assert!(!detail.contains(internal), "{case}: {detail}");
        }
        assert_eq!(answer.header("www-authenticate"), Some("Bearer error=\"invalid_token\""), "{case}");
    }
    let basic = judge(&base, &[("authorization", "Basic dXNlcjpwYXNz".into())]).await;
    assert_eq!((basic.status, basic.body["code"].as_str()), (401, Some("invalid_token")));
}

#[tokio::test]
async fn organizations_draw_from_their_tier_through_keys_and_membership() {
    let postgres = TempPostgres::start().await;
    let fixture = Fixture::create(&postgres.client().await).await;
    let state = direct(&postgres);
    let base = serve(&state).await;
    let store: Store = state.store().unwrap().unwrap();

    let key = store.create_api_key(&fixture.admin_a.actor(), fixture.org_a, "blog").await.unwrap();
    let with_key = judge(&base, &[bearer(key.expose())]).await;
    assert_eq!(with_key.status, 200, "{}", with_key.body);
    assert_eq!(with_key.header("ratelimit-policy"), Some("\"pro\";q=100;w=60"), "org A is on the pro tier");
    let key_id: Uuid = postgres
        .client()
        .await
        .query_one("select id from public.api_keys where organization_id = $1", &[&fixture.org_a])
        .await
        .unwrap()
        .get(0);
    assert!(store.revoke_api_key(&fixture.owner_a.actor(), key_id).await.unwrap());
    let revoked = judge(&base, &[bearer(key.expose())]).await;
    assert_eq!((revoked.status, revoked.body["code"].as_str()), (401, Some("invalid_api_key")), "revoked at once");
    let unknown = format!("cck_{}_{}", "0123456789ab", "a".repeat(64));
    assert_eq!(judge(&base, &[bearer(&unknown)]).await.status, 401);

    let member = bearer(&fixture.member_a.token);
    let for_org = judge(&base, &[member.clone(), ("x-organization-id", fixture.org_a.to_string())]).await;
    assert_eq!(for_org.status, 200, "{}", for_org.body);
    assert_eq!(for_org.header("ratelimit-policy"), Some("\"pro\";q=100;w=60"));
    let other_org = judge(&base, &[member, ("x-organization-id", fixture.org_b.to_string())]).await;
    assert_eq!((other_org.status, other_org.body["code"].as_str()), (403, Some("not_a_member")));
}

#[tokio::test]
async fn the_emergency_switches_take_effect_within_their_cache_time() {
    let postgres = TempPostgres::start().await;
    let base = serve(&direct(&postgres)).await;
    let client = postgres.client().await;
    // A fresh bucket for each phase: the polls of one phase must not spend the next phase's allowance.
    let fresh_caller = || [fresh_user()];
    assert_eq!(judge(&base, &fresh_caller()).await.status, 200);

    // Polls until the switch shows: at most the cache time (1 s) plus a margin for a slow machine.
    async fn within(limit: Duration, base: &str, caller: [(&str, String); 1], status: u16) -> Answer {
        let started = Instant::now();
        loop {
            let answer = judge(base, &caller).await;
            if answer.status == status {
                return answer;
            }
            assert!(started.elapsed() < limit, "still {} after {limit:?}: {}", answer.status, answer.body);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    client
        .execute("update public.runtime_config set judging_enabled = false, reason = 'incident 42'", &[])
        .await
        .unwrap();
    let disabled = within(Duration::from_secs(3), &base, fresh_caller(), 503).await;
    assert_eq!(disabled.body["code"], "feature_disabled");
    assert!(disabled.body["detail"].as_str().unwrap().contains("incident 42"), "{}", disabled.body);
    assert!(disabled.header("retry-after").is_some());

    client
        .execute("update public.runtime_config set judging_enabled = true, rate_limit_multiplier = 0", &[])
        .await
        .unwrap();
    let throttled = within(Duration::from_secs(3), &base, fresh_caller(), 429).await;
    assert_eq!(throttled.header("ratelimit-policy"), Some("\"free\";q=0;w=60"), "a multiplier of 0 admits nothing");

    client.execute("update public.runtime_config set rate_limit_multiplier = 1", &[]).await.unwrap();
    within(Duration::from_secs(3), &base, fresh_caller(), 200).await;
}

#[tokio::test]
async fn judging_stays_open_when_the_store_is_down() {
    let port = codecapsule_test_support::free_port();
    let state = StateConfig::Direct {
        url: Secret::new(format!("postgres://postgres@127.0.0.1:{port}/postgres?sslmode=disable")),
        ca_cert: None,
        pool_size: 1,
    };
    let base = serve(&state).await;
    // A user token verifies without the store (HS256); the bucket cannot be asked, and judging fails open.
    let answer = judge(&base, &[fresh_user()]).await;
    assert_eq!(answer.status, 200, "judging fails open: {}", answer.body);
    assert_eq!(answer.header("ratelimit"), None, "no decision was made, so no rate-limit headers");
}

#[tokio::test]
async fn health_reports_the_state_as_it_is_now() {
    let postgres = TempPostgres::start().await;
    let state = StateConfig::Direct { url: Secret::new(postgres.url.clone()), ca_cert: None, pool_size: 1 };
    let base = serve(&state).await;
    let health = || async {
        let response = reqwest::get(format!("{base}/api/health")).await.unwrap();
        (response.status().as_u16(), response.json::<Value>().await.unwrap())
    };
    let (status, answer) = health().await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("ok")), "{answer}");
    assert!(answer.get("problems").is_none(), "{answer}");
    // The database stops under the running function: health says so from then on, not what held at its first answer.
    drop(postgres);
    tokio::time::sleep(codecapsule_web::HEALTH_CHECK_EVERY + Duration::from_millis(100)).await;
    let (status, answer) = health().await;
    assert_eq!((status, answer["status"].as_str()), (503, Some("degraded")), "{answer}");
    let problem = answer["problems"][0].as_str().unwrap();
    assert!(problem.starts_with("the state (postgres) does not answer"), "{problem}");
    assert!(!problem.contains("127.0.0.1") && !problem.contains("connection"), "no transport detail: {problem}");
}
