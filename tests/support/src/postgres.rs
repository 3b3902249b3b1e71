//! Throwaway PostgreSQL clusters for the tests (the machine's binaries, a temporary directory, a free port), set up
//! like a Supabase project; and the fixtures the state tests share: users, organizations, capsules, tokens.

use codecapsule_core::config::Secret;
use codecapsule_devdb::local::LocalPostgres;
use codecapsule_devdb::migrations;
use codecapsule_state::{Actor, UserToken};
use serde_json::{Value, json};
use uuid::Uuid;

/// The HS256 secret the tests' "Supabase project" signs its JWTs with.
pub const JWT_SECRET: &str = "test-only-jwt-secret-of-at-least-32-characters";

/// A cluster with the Supabase compatibility bootstrap (and the migrations, unless `bare`). Stopped and deleted when
/// dropped.
pub struct TempPostgres {
    _cluster: LocalPostgres,
    /// The superuser's URL.
    pub url: String,
    /// PostgREST's login role (`authenticator`): what the PostgREST-protocol server connects as.
    pub authenticator_url: String,
}

impl TempPostgres {
    /// Bootstrapped and migrated.
    pub async fn start() -> TempPostgres {
        let postgres = TempPostgres::start_bare().await;
        let applied = migrations::prepare_local(&postgres.url).await.expect("the migrations apply");
        assert_eq!(applied, migrations::all().len(), "every migration applied on a fresh cluster");
        postgres
    }

    /// Bootstrapped only (no migration applied).
    pub async fn start_bare() -> TempPostgres {
        let cluster = tokio::task::spawn_blocking(|| LocalPostgres::start_temporary(crate::free_port()))
            .await
            .expect("the start-up thread")
            .unwrap_or_else(|err| panic!("cannot start PostgreSQL for the tests: {err}"));
        let url = cluster.url("postgres");
        let authenticator_url = cluster.url("authenticator");
        let postgres = TempPostgres { _cluster: cluster, url, authenticator_url };
        migrations::bootstrap(&postgres.client().await).await.expect("the bootstrap applies");
        postgres
    }

    /// A deployment over this cluster (direct transport, `pool_size` connections): its store, and a guard accepting
    /// HS256 tokens signed with [`JWT_SECRET`]; switches cached for 1 s, so tests see their changes quickly.
    pub fn deployment(&self, pool_size: usize) -> codecapsule_state::guard::Stateful {
        let state =
            codecapsule_state::StateConfig::Direct { url: Secret::new(self.url.clone()), ca_cert: None, pool_size };
        let auth = codecapsule_state::guard::auth::AuthConfig {
            jwt_secret: Some(Secret::new(JWT_SECRET.into())),
            jwks_url: None,
            audience: "authenticated".into(),
        };
        codecapsule_state::guard::Stateful::new(&state, auth, std::time::Duration::from_secs(1)).expect("a valid guard")
    }

    /// A superuser connection.
    pub async fn client(&self) -> tokio_postgres::Client {
        connect(&self.url).await
    }
}

/// A connection to `url` (no TLS), its connection task spawned.
pub async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) =
        tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap_or_else(|err| panic!("connect {url}: {err}"));
    tokio::spawn(connection);
    client
}

/// A signed HS256 JWT with `claims`, as Supabase Auth (or the project's API keys) would issue.
pub fn sign(claims: &Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .expect("a signed token")
}

/// Seconds since the epoch, `offset` from now.
pub fn epoch(offset: i64) -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_secs() as i64;
    now + offset
}

/// The anon and service_role API keys of the test project (JWTs with those roles, as Supabase's are).
pub fn anon_key() -> String {
    sign(&json!({"role": "anon", "iss": "supabase", "exp": epoch(3600)}))
}

pub fn service_key() -> String {
    sign(&json!({"role": "service_role", "iss": "supabase", "exp": epoch(3600)}))
}

/// A user of the fixture: their id and a valid session token.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: Uuid,
    pub token: String,
}

impl TestUser {
    pub fn claims(&self) -> Value {
        json!({"sub": self.id, "role": "authenticated", "aud": "authenticated", "exp": epoch(3600)})
    }

    pub fn actor(&self) -> Actor {
        Actor::User(UserToken { user_id: self.id, claims: self.claims(), token: Secret::new(self.token.clone()) })
    }
}

/// Two organizations with their people and capsules, written as the superuser (not through the code under test).
pub struct Fixture {
    pub org_a: Uuid,
    pub org_b: Uuid,
    /// Owner of A.
    pub owner_a: TestUser,
    /// Admin of A.
    pub admin_a: TestUser,
    /// Member of A.
    pub member_a: TestUser,
    /// Member of B.
    pub member_b: TestUser,
    /// Signed in, in no organization.
    pub outsider: TestUser,
    /// A's published public capsule, and its private draft.
    pub public_a: Uuid,
    pub private_a: Uuid,
    /// B's published public capsule, and its private draft.
    pub public_b: Uuid,
    pub private_b: Uuid,
}

impl Fixture {
    pub async fn create(client: &tokio_postgres::Client) -> Fixture {
        let user = |name: &str| {
            let id = Uuid::new_v4();
            let token = sign(
                &json!({"sub": id, "role": "authenticated", "aud": "authenticated", "exp": epoch(3600), "email": format!("{name}@example.com")}),
            );
            TestUser { id, token }
        };
        let [owner_a, admin_a, member_a, member_b, outsider] =
            ["owner-a", "admin-a", "member-a", "member-b", "outsider"].map(user);
        for (user, name) in [
            (&owner_a, "owner-a"),
            (&admin_a, "admin-a"),
            (&member_a, "member-a"),
            (&member_b, "member-b"),
            (&outsider, "outsider"),
        ] {
            client
                .execute(
                    "insert into auth.users (id, email) values ($1, $2)",
                    &[&user.id, &format!("{name}-{}@example.com", user.id)],
                )
                .await
                .expect("a user");
        }
        let org = |name: &'static str, tier: &'static str| async move {
            let row = client
                .query_one(
                    "insert into public.organizations (name, tier) values ($1, $2::text::public.tier) returning id",
                    &[&name, &tier],
                )
                .await
                .expect("an organization");
            row.get::<_, Uuid>(0)
        };
        let org_a = org("Org A", "pro").await;
        let org_b = org("Org B", "free").await;
        for (org, user, role) in [
            (org_a, &owner_a, "owner"),
            (org_a, &admin_a, "admin"),
            (org_a, &member_a, "member"),
            (org_b, &member_b, "owner"),
        ] {
            client
                .execute(
                    "insert into public.memberships (organization_id, user_id, role) values ($1, $2, $3::text::public.member_role)",
                    &[&org, &user.id, &role],
                )
                .await
                .expect("a membership");
        }
        let capsule = |org: Uuid, slug: &'static str, visibility: &'static str, status: &'static str| async move {
            // The public row holds the reader's view; the authored capsule (with its hidden test) is private.
            let visible = json!({"id": "t1", "stdin": "", "expected_stdout": "1\n"});
            let hidden = json!({"id": "h1", "stdin": format!("HIDDEN-INPUT of {slug}"), "expected_stdout": "1\n", "hidden": true});
            let content = json!({"title": slug, "language": "python", "tests": [visible, {"id": "h1", "hidden": true, "weight": 1.0}]});
            let authored = json!({"slug": slug, "title": slug, "language": "python", "tests": [visible, hidden]});
            let id: Uuid = client
                .query_one(
                    "insert into public.capsules (organization_id, slug, title, language, visibility, status, content) \
                     values ($1, $2, $2, 'python', $3::text::public.capsule_visibility, $4::text::public.capsule_status, $5) returning id",
                    &[&org, &slug, &visibility, &status, &content],
                )
                .await
                .expect("a capsule")
                .get(0);
            client
                .execute(
                    "insert into public.capsule_solutions (capsule_id, organization_id, solution, authored) values ($1, $2, $3, $4)",
                    &[&id, &org, &json!({"source": format!("print(1)  # solution of {slug}")}), &authored],
                )
                .await
                .expect("a solution");
            id
        };
        Fixture {
            public_a: capsule(org_a, "public-a", "public", "published").await,
            private_a: capsule(org_a, "private-a", "private", "draft").await,
            public_b: capsule(org_b, "public-b", "public", "published").await,
            private_b: capsule(org_b, "private-b", "private", "draft").await,
            org_a,
            org_b,
            owner_a,
            admin_a,
            member_a,
            member_b,
            outsider,
        }
    }
}

/// Asserts that the hourly stats are exactly what `analytics.hourly_stats_of` recomputes from the raw events, for
/// every (capsule, hour) that has events: the rollup counted each event once, none twice, none missed.
pub async fn assert_stats_equal_recomputation(client: &tokio_postgres::Client) {
    let differences: i64 = client
        .query_one(
            "with touched as (
               select array_agg(capsule_id) as capsules, array_agg(hour) as hours from (
                 select distinct capsule_id, date_trunc('hour', occurred_at, 'UTC') as hour from analytics.events) t),
             expected as (select h.* from touched, analytics.hourly_stats_of(touched.capsules, touched.hours) h),
             actual as (select capsule_id, hour, views, runs, submissions, passes, fails, errors, unique_visitors,
                               avg_run_ms, p95_run_ms from analytics.capsule_hourly_stats)
             select count(*) from ((select * from expected except all select * from actual)
                                   union all (select * from actual except all select * from expected)) d",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(differences, 0, "the hourly stats differ from a recomputation over the raw events");
}
