//! The state layer against real PostgreSQL (a throwaway cluster per test, from the machine's binaries):
//! migrations apply, roll back and apply again; the RLS matrix; both transports through one data-access suite; the
//! rate limiter's accuracy under concurrency.

use codecapsule_core::config::Secret;
use codecapsule_core::model::{Capsule, Language, Verdict};
use codecapsule_devdb::migrations;
use codecapsule_state::rest::RestStore;
use codecapsule_state::{
    Actor, CapsuleStatus, NewSubmission, StateConfig, Store, StoreError, StoredOffset, StreamPosition, SubmittedTest,
    Submitter, Tier, Usage, Visibility,
};
use codecapsule_test_support::postgres::{Fixture, JWT_SECRET, TempPostgres, TestUser, anon_key, service_key};
use codecapsule_test_support::postgrest::PostgrestServer;
use serde_json::{Value, json};
use uuid::Uuid;

fn direct_store(postgres: &TempPostgres, pool_size: usize) -> Store {
    let config = StateConfig::Direct { url: Secret::new(postgres.url.clone()), ca_cert: None, pool_size };
    config.store().expect("a store").expect("configured")
}

async fn rest_store(postgres: &TempPostgres) -> Store {
    let server = PostgrestServer::start(&postgres.authenticator_url, JWT_SECRET).await;
    Store::Rest(RestStore::new(&server.url, Secret::new(anon_key()), Secret::new(service_key())))
}

#[tokio::test]
async fn migrations_apply_roll_back_and_apply_again() {
    let postgres = TempPostgres::start_bare().await;
    let mut client = postgres.client().await;
    let count = migrations::all().len();
    let tables = "select count(*) from pg_tables where schemaname in ('public', 'analytics', 'private')";
    let types = "select count(*) from pg_type t join pg_namespace n on n.oid = t.typnamespace \
                 where n.nspname = 'public' and t.typtype = 'e'";

    assert_eq!(migrations::apply_all(&mut client).await.unwrap(), count);
    let created: i64 = client.query_one(tables, &[]).await.unwrap().get(0);
    assert_eq!(created, 17, "the schema has its seventeen tables");
    assert_eq!(migrations::apply_all(&mut client).await.unwrap(), 0, "applying twice applies nothing");

    assert_eq!(migrations::roll_back_all(&mut client).await.unwrap(), count);
    assert_eq!(client.query_one(tables, &[]).await.unwrap().get::<_, i64>(0), 0, "no table left after rolling back");
    assert_eq!(client.query_one(types, &[]).await.unwrap().get::<_, i64>(0), 0, "no enum type left");
    let functions: i64 = client
        .query_one(
            "select count(*) from pg_proc p join pg_namespace n on n.oid = p.pronamespace \
             where n.nspname in ('public', 'private', 'analytics')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(functions, 0, "no function left");
    assert!(migrations::applied(&client).await.unwrap().is_empty());

    assert_eq!(migrations::apply_all(&mut client).await.unwrap(), count, "and everything applies again");
    assert_eq!(client.query_one(tables, &[]).await.unwrap().get::<_, i64>(0), created);
}

#[tokio::test]
async fn the_schema_keeps_supabases_rules() {
    let postgres = TempPostgres::start().await;
    let client = postgres.client().await;
    // RLS on every table of every schema (exposed or not).
    let open: Vec<String> = client
        .query(
            "select n.nspname || '.' || c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace \
             where c.relkind in ('r', 'p') and n.nspname in ('public', 'analytics', 'private') and not c.relrowsecurity",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert!(open.is_empty(), "tables without RLS: {open:?}");
    // SECURITY DEFINER functions pin search_path and are not executable by PUBLIC.
    let loose: Vec<String> = client
        .query(
            "select p.oid::regprocedure::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace \
             where n.nspname in ('public', 'analytics', 'private') and p.prosecdef \
               and (p.proconfig is null or not exists (select from unnest(p.proconfig) c where c like 'search_path=%') \
                    or exists (select from aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a where a.grantee = 0))",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert!(loose.is_empty(), "SECURITY DEFINER functions without a pinned search_path or open to PUBLIC: {loose:?}");
    // No function of ours is executable by PUBLIC (Postgres's default): each names its roles.
    let public: Vec<String> = client
        .query(
            "select p.oid::regprocedure::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace \
             where n.nspname in ('public', 'analytics', 'private') \
               and exists (select from aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a where a.grantee = 0)",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert!(public.is_empty(), "functions executable by PUBLIC: {public:?}");
    // Views, if any, run with the caller's rights.
    let definer_views: i64 = client
        .query_one(
            "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace \
             where c.relkind = 'v' and n.nspname in ('public', 'analytics') \
               and not coalesce('security_invoker=true' = any(c.reloptions), false)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(definer_views, 0);
    // The rate-limit state is UNLOGGED.
    let persistence: i8 = client
        .query_one("select relpersistence::\"char\" from pg_class where oid = 'private.rate_limits'::regclass", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(persistence as u8, b'u');
}

/// Who runs a statement in the RLS matrix.
#[derive(Clone, Copy)]
enum Who<'a> {
    Anon,
    User(&'a TestUser),
    Service,
}

/// Runs `sql` as `who` (role and request.jwt.claims set as PostgREST sets them) in a transaction that is rolled back;
/// the number of rows it returned or touched, or the SQLSTATE of its error.
async fn attempt(client: &mut tokio_postgres::Client, who: Who<'_>, sql: &str) -> Result<u64, String> {
    let transaction = client.transaction().await.unwrap();
    let (role, claims) = match who {
        Who::Anon => ("anon", json!({"role": "anon"})),
        Who::User(user) => ("authenticated", user.claims()),
        Who::Service => ("service_role", json!({"role": "service_role"})),
    };
    transaction
        .execute(
            "select set_config('role', $1, true), set_config('request.jwt.claims', $2, true)",
            &[&role, &claims.to_string()],
        )
        .await
        .unwrap();
    let result = transaction
        .execute(sql, &[])
        .await
        .map_err(|err| err.as_db_error().map(|db| db.code().code().to_string()).unwrap_or_else(|| err.to_string()));
    transaction.rollback().await.unwrap();
    result
}

const DENIED: Result<u64, &str> = Err("42501");

#[tokio::test]
async fn row_level_security_matrix() {
    let postgres = TempPostgres::start().await;
    let mut client = postgres.client().await;
    let f = Fixture::create(&client).await;
    // Rows of the tables the fixture does not fill: one API key, job, usage day and stats row per organization.
    for (org, capsule) in [(f.org_a, f.public_a), (f.org_b, f.private_b)] {
        client
            .batch_execute(&format!(
                "insert into public.api_keys (organization_id, name, prefix, key_hash) \
                   values ('{org}', 'ci', substr(md5(random()::text), 1, 12), encode(sha256(random()::text::bytea), 'hex'));
                 insert into public.generation_jobs (organization_id, request, deadline_at) values ('{org}', '{{}}', now());
                 insert into public.usage_ledger (organization_id, day, llm_calls) values ('{org}', current_date, 1);
                 insert into analytics.capsule_hourly_stats (capsule_id, hour, views) values ('{capsule}', date_trunc('hour', now()), 3);"
            ))
            .await
            .unwrap();
    }
    client
        .batch_execute(&format!(
            "insert into analytics.capsule_hourly_stats (capsule_id, hour, views) values ('{}', date_trunc('hour', now()), 1);
             insert into analytics.events (event_id, capsule_id, type, occurred_at) values (gen_random_uuid(), '{}', 'view', now());",
            Uuid::new_v4(),
            f.public_a
        ))
        .await
        .unwrap();
    // Submissions: two to A's public capsule (a member's and an outsider's), one anonymous, one to B's by its member.
    client
        .batch_execute(&format!(
            "insert into public.submissions (capsule_id, capsule_version, organization_id, language, verdict, score, tests, user_id)
               values ('{pa}', 1, '{oa}', 'python', 'accepted', 1, '[]', '{ma}'), ('{pa}', 1, '{oa}', 'python', 'wrong_answer', 0, '[]', '{out}'),
                      ('{pb}', 1, '{ob}', 'python', 'accepted', 1, '[]', '{mb}');
             insert into public.submissions (capsule_id, capsule_version, organization_id, language, verdict, score, tests, visitor_hash)
               values ('{pa}', 1, '{oa}', 'python', 'accepted', 1, '[]', repeat('a', 64));",
            pa = f.public_a, pb = f.public_b, oa = f.org_a, ob = f.org_b, ma = f.member_a.id, mb = f.member_b.id,
            out = f.outsider.id
        ))
        .await
        .unwrap();
    let outsiders_submission: Uuid = client
        .query_one("select id from public.submissions where user_id = $1", &[&f.outsider.id])
        .await
        .unwrap()
        .get(0);
    let key_a: Uuid = client
        .query_one("select id from public.api_keys where organization_id = $1", &[&f.org_a])
        .await
        .unwrap()
        .get(0);

    let (anon, service) = (Who::Anon, Who::Service);
    let (member_a, admin_a, owner_a, member_b, outsider) = (
        Who::User(&f.member_a),
        Who::User(&f.admin_a),
        Who::User(&f.owner_a),
        Who::User(&f.member_b),
        Who::User(&f.outsider),
    );
    let (org_a, org_b) = (f.org_a, f.org_b);
    let (public_a, private_a, public_b, private_b) = (f.public_a, f.private_a, f.public_b, f.private_b);
    let (outsider_id, member_a_id, owner_a_id) = (f.outsider.id, f.member_a.id, f.owner_a.id);
    let capsule_json = |org: Uuid, slug: &str| {
        format!(
            "'{org}', '{{\"slug\": \"{slug}\", \"title\": \"t\", \"language\": \"python\", \"solution\": {{\"source\": \"x\"}}}}', '{{\"title\": \"t\"}}'"
        )
    };

    let cases: Vec<(&str, Who, String, Result<u64, &str>)> = vec![
        // organizations: members read theirs; owners rename; the tier is billing's (service_role).
        ("orgs read", anon, "select id from public.organizations".into(), DENIED),
        ("orgs read", member_a, "select id from public.organizations".into(), Ok(1)),
        ("orgs read", member_b, "select id from public.organizations".into(), Ok(1)),
        ("orgs read", outsider, "select id from public.organizations".into(), Ok(0)),
        ("orgs read", service, "select id from public.organizations".into(), Ok(2)),
        ("orgs insert", owner_a, "insert into public.organizations (name) values ('x')".into(), DENIED),
        ("orgs rename", member_a, format!("update public.organizations set name = 'x' where id = '{org_a}'"), Ok(0)),
        ("orgs rename", admin_a, format!("update public.organizations set name = 'x' where id = '{org_a}'"), Ok(0)),
        ("orgs rename", owner_a, format!("update public.organizations set name = 'x' where id = '{org_a}'"), Ok(1)),
        ("orgs rename", owner_a, format!("update public.organizations set name = 'x' where id = '{org_b}'"), Ok(0)),
        ("orgs tier", owner_a, format!("update public.organizations set tier = 'b2b' where id = '{org_a}'"), DENIED),
        ("orgs tier", service, format!("update public.organizations set tier = 'b2b' where id = '{org_a}'"), Ok(1)),
        ("orgs delete", admin_a, format!("delete from public.organizations where id = '{org_a}'"), Ok(0)),
        ("orgs delete", member_b, format!("delete from public.organizations where id = '{org_b}'"), Ok(1)),
        ("orgs delete", member_b, format!("delete from public.organizations where id = '{org_a}'"), Ok(0)),
        // profiles: self and colleagues.
        ("profiles read", anon, "select id from public.profiles".into(), DENIED),
        ("profiles read", member_a, "select id from public.profiles".into(), Ok(3)),
        ("profiles read", member_b, "select id from public.profiles".into(), Ok(1)),
        ("profiles read", outsider, "select id from public.profiles".into(), Ok(1)),
        ("profiles read", service, "select id from public.profiles".into(), Ok(5)),
        (
            "profiles update",
            member_a,
            format!("update public.profiles set display_name = 'x' where id = '{owner_a_id}'"),
            Ok(0),
        ),
        (
            "profiles update",
            member_a,
            format!("update public.profiles set display_name = 'x' where id = '{member_a_id}'"),
            Ok(1),
        ),
        // memberships: members read their organization's; admins manage; only owners make owners.
        ("members read", anon, "select user_id from public.memberships".into(), DENIED),
        ("members read", member_a, "select user_id from public.memberships".into(), Ok(3)),
        ("members read", member_b, "select user_id from public.memberships".into(), Ok(1)),
        ("members read", outsider, "select user_id from public.memberships".into(), Ok(0)),
        (
            "members add",
            member_a,
            format!("insert into public.memberships values ('{org_a}', '{outsider_id}', 'member')"),
            DENIED,
        ),
        (
            "members add",
            admin_a,
            format!("insert into public.memberships values ('{org_a}', '{outsider_id}', 'member')"),
            Ok(1),
        ),
        (
            "members add",
            admin_a,
            format!("insert into public.memberships values ('{org_a}', '{outsider_id}', 'owner')"),
            DENIED,
        ),
        (
            "members add",
            owner_a,
            format!("insert into public.memberships values ('{org_a}', '{outsider_id}', 'owner')"),
            Ok(1),
        ),
        (
            "members add",
            admin_a,
            format!("insert into public.memberships values ('{org_b}', '{outsider_id}', 'member')"),
            DENIED,
        ),
        (
            "members promote",
            admin_a,
            format!("update public.memberships set role = 'owner' where user_id = '{member_a_id}'"),
            DENIED,
        ),
        (
            "members promote",
            owner_a,
            format!("update public.memberships set role = 'admin' where user_id = '{member_a_id}'"),
            Ok(1),
        ),
        ("members remove", admin_a, format!("delete from public.memberships where user_id = '{member_a_id}'"), Ok(1)),
        ("members remove", admin_a, format!("delete from public.memberships where user_id = '{owner_a_id}'"), Ok(0)),
        ("members remove", member_b, format!("delete from public.memberships where user_id = '{member_a_id}'"), Ok(0)),
        // capsules: anon sees published public ones; members their organization's too; admins change them.
        ("capsules read", anon, "select id from public.capsules".into(), Ok(2)),
        ("capsules read", anon, format!("select id from public.capsules where id = '{private_a}'"), Ok(0)),
        ("capsules read", member_a, "select id from public.capsules".into(), Ok(3)),
        ("capsules read", member_b, "select id from public.capsules".into(), Ok(3)),
        ("capsules read", member_b, format!("select id from public.capsules where id = '{private_a}'"), Ok(0)),
        ("capsules read", outsider, "select id from public.capsules".into(), Ok(2)),
        ("capsules read", service, "select id from public.capsules".into(), Ok(4)),
        ("capsules update", anon, format!("update public.capsules set title = 'x' where id = '{public_a}'"), DENIED),
        (
            "capsules update",
            member_a,
            format!("update public.capsules set title = 'x' where id = '{private_a}'"),
            Ok(0),
        ),
        ("capsules update", admin_a, format!("update public.capsules set title = 'x' where id = '{private_a}'"), Ok(1)),
        ("capsules update", admin_a, format!("update public.capsules set title = 'x' where id = '{public_b}'"), Ok(0)),
        (
            "capsules update",
            admin_a,
            format!("update public.capsules set organization_id = '{org_b}' where id = '{private_a}'"),
            DENIED,
        ),
        (
            "capsules insert",
            member_a,
            format!(
                "insert into public.capsules (organization_id, slug, title, language, content) values ('{org_a}', 'n', 't', 'python', '{{}}')"
            ),
            DENIED,
        ),
        (
            "capsules insert",
            admin_a,
            format!(
                "insert into public.capsules (organization_id, slug, title, language, content) values ('{org_a}', 'n', 't', 'python', '{{}}')"
            ),
            Ok(1),
        ),
        (
            "capsules insert",
            admin_a,
            format!(
                "insert into public.capsules (organization_id, slug, title, language, content) values ('{org_b}', 'n', 't', 'python', '{{}}')"
            ),
            DENIED,
        ),
        ("capsules delete", member_b, format!("delete from public.capsules where id = '{private_b}'"), Ok(1)),
        ("capsules delete", admin_a, format!("delete from public.capsules where id = '{public_b}'"), Ok(0)),
        // solutions: never anon, never another organization, even for a public capsule.
        ("solutions read", anon, "select solution from public.capsule_solutions".into(), DENIED),
        ("solutions read", member_a, "select solution from public.capsule_solutions".into(), Ok(2)),
        (
            "solutions read",
            member_b,
            format!("select solution from public.capsule_solutions where capsule_id = '{public_a}'"),
            Ok(0),
        ),
        ("solutions read", outsider, "select solution from public.capsule_solutions".into(), Ok(0)),
        ("solutions read", service, "select solution from public.capsule_solutions".into(), Ok(4)),
        (
            "solutions write",
            member_a,
            format!("update public.capsule_solutions set solution = '{{}}' where capsule_id = '{private_a}'"),
            Ok(0),
        ),
        (
            "solutions write",
            admin_a,
            format!("update public.capsule_solutions set solution = '{{}}' where capsule_id = '{private_a}'"),
            Ok(1),
        ),
        (
            "solutions write",
            admin_a,
            format!("update public.capsule_solutions set solution = '{{}}' where capsule_id = '{public_b}'"),
            Ok(0),
        ),
        // api_keys: owners and admins only, and never the hash.
        ("keys read", anon, "select id from public.api_keys".into(), DENIED),
        ("keys read", member_a, "select id from public.api_keys".into(), Ok(0)),
        ("keys read", admin_a, "select id from public.api_keys".into(), Ok(1)),
        ("keys read", member_b, "select id from public.api_keys".into(), Ok(1)),
        ("keys hash", admin_a, "select key_hash from public.api_keys".into(), DENIED),
        ("keys revoke", member_a, format!("update public.api_keys set revoked_at = now() where id = '{key_a}'"), Ok(0)),
        ("keys revoke", admin_a, format!("update public.api_keys set revoked_at = now() where id = '{key_a}'"), Ok(1)),
        ("keys revoke", member_b, format!("update public.api_keys set revoked_at = now() where id = '{key_a}'"), Ok(0)),
        // generation jobs and usage: read by members, written by the functions.
        ("jobs read", anon, "select id from public.generation_jobs".into(), DENIED),
        ("jobs read", member_a, "select id from public.generation_jobs".into(), Ok(1)),
        ("jobs read", outsider, "select id from public.generation_jobs".into(), Ok(0)),
        (
            "jobs write",
            admin_a,
            format!(
                "insert into public.generation_jobs (organization_id, request, deadline_at) values ('{org_a}', '{{}}', now())"
            ),
            DENIED,
        ),
        ("usage read", member_b, "select day from public.usage_ledger".into(), Ok(1)),
        ("usage read", anon, "select day from public.usage_ledger".into(), DENIED),
        (
            "usage write",
            owner_a,
            format!("update public.usage_ledger set llm_calls = 0 where organization_id = '{org_a}'"),
            DENIED,
        ),
        // runtime_config: the functions' alone.
        ("config read", anon, "select * from public.runtime_config".into(), DENIED),
        ("config read", owner_a, "select * from public.runtime_config".into(), DENIED),
        ("config write", owner_a, "update public.runtime_config set judging_enabled = false".into(), DENIED),
        ("config read", service, "select * from public.runtime_config".into(), Ok(1)),
        // analytics: members read their capsules' stats; raw events and the watermark are the functions' alone.
        ("stats read", anon, "select * from analytics.capsule_hourly_stats".into(), DENIED),
        ("stats read", member_a, "select * from analytics.capsule_hourly_stats".into(), Ok(1)),
        ("stats read", member_b, "select * from analytics.capsule_hourly_stats".into(), Ok(1)),
        ("stats read", outsider, "select * from analytics.capsule_hourly_stats".into(), Ok(0)),
        ("stats read", service, "select * from analytics.capsule_hourly_stats".into(), Ok(3)),
        ("stats write", owner_a, "update analytics.capsule_hourly_stats set views = 0".into(), DENIED),
        ("events read", member_a, "select * from analytics.events".into(), DENIED),
        ("events read", anon, "select * from analytics.events".into(), DENIED),
        ("events read", service, "select * from analytics.events".into(), Ok(1)),
        ("watermark", owner_a, "select * from analytics.rollup_watermark".into(), DENIED),
        ("salts", owner_a, "select * from analytics.daily_salts".into(), DENIED),
        ("salts", service, "select * from analytics.daily_salts".into(), Ok(0)),
        ("rpc ingest", anon, "select * from public.ingest_events('[]')".into(), DENIED),
        ("rpc ingest", member_a, "select * from public.ingest_events('[]')".into(), DENIED),
        ("rpc ingest", service, "select * from public.ingest_events('[]')".into(), Ok(1)),
        ("stream offsets", owner_a, "select * from analytics.stream_offsets".into(), DENIED),
        ("stream offsets", service, "select * from analytics.stream_offsets".into(), Ok(0)),
        ("rpc stream ingest", anon, "select * from public.ingest_stream_events('t', 0, null, 0, '[]')".into(), DENIED),
        (
            "rpc stream ingest",
            member_a,
            "select * from public.ingest_stream_events('t', 0, null, 0, '[]')".into(),
            DENIED,
        ),
        (
            "rpc stream ingest",
            service,
            "select * from public.ingest_stream_events('t', 0, null, 0, '[]')".into(),
            Ok(1),
        ),
        ("rpc stream offsets", owner_a, "select * from public.stream_offsets('t')".into(), DENIED),
        ("rpc rollup", owner_a, "select * from public.rollup_analytics()".into(), DENIED),
        ("rpc rollup", service, "select * from public.rollup_analytics()".into(), Ok(1)),
        ("rpc retention", owner_a, "select public.prune_analytics_events(30)".into(), DENIED),
        ("rpc stats of", member_a, "select * from analytics.hourly_stats_of('{}', '{}')".into(), DENIED),
        (
            "rpc new job",
            owner_a,
            format!("select public.create_generation_job('{org_a}', null, '{{}}', now())"),
            DENIED,
        ),
        ("rpc new job", service, format!("select public.create_generation_job('{org_a}', null, '{{}}', now())"), Ok(1)),
        ("rpc job progress", admin_a, format!("select public.append_generation_progress('{org_a}', '{{}}')"), DENIED),
        (
            "rpc job finish",
            admin_a,
            format!("select public.finish_generation_job('{org_a}', 'failed', null, null, null)"),
            DENIED,
        ),
        ("rpc allowance", owner_a, format!("select * from public.llm_allowance('{org_a}')"), DENIED),
        ("rpc allowance", service, format!("select * from public.llm_allowance('{org_a}')"), Ok(1)),
        ("limits", member_a, "select * from private.rate_limits".into(), DENIED),
        ("limits", anon, "select * from private.rate_limits".into(), DENIED),
        // RPCs: each executable by the roles it names, and no further.
        ("rpc rate", anon, "select * from public.rate_limit_take('k', 10, 10)".into(), DENIED),
        ("rpc rate", member_a, "select * from public.rate_limit_take('k', 10, 10)".into(), DENIED),
        ("rpc rate", service, "select * from public.rate_limit_take('k', 10, 10)".into(), Ok(1)),
        ("rpc prune", anon, "select public.prune_rate_limits()".into(), DENIED),
        ("rpc key auth", member_a, "select * from public.authenticate_api_key('x', 'y')".into(), DENIED),
        ("rpc usage", owner_a, format!("select public.record_usage('{org_a}', 1)"), DENIED),
        ("rpc usage", service, format!("select public.record_usage('{org_a}', 1)"), Ok(1)),
        ("rpc new org", anon, "select public.create_organization('x')".into(), DENIED),
        ("rpc new org", outsider, "select public.create_organization('x')".into(), Ok(1)),
        ("rpc capsule", anon, format!("select 1 where public.capsule_by_id('{public_a}') is not null"), Ok(1)),
        ("rpc capsule", anon, format!("select 1 where public.capsule_by_id('{private_a}') is not null"), Ok(0)),
        ("rpc capsule", anon, format!("select 1 where public.capsule_by_id('{public_a}') ? 'solution'"), Ok(0)),
        ("rpc capsule", member_b, format!("select 1 where public.capsule_by_id('{public_a}') ? 'solution'"), Ok(0)),
        ("rpc capsule", member_b, format!("select 1 where public.capsule_by_id('{private_a}') is not null"), Ok(0)),
        ("rpc capsule", member_a, format!("select 1 where public.capsule_by_id('{private_a}') ? 'solution'"), Ok(1)),
        ("rpc capsule", service, format!("select 1 where public.capsule_by_id('{public_b}') ? 'solution'"), Ok(1)),
        ("rpc save", anon, format!("select * from public.save_capsule({})", capsule_json(org_a, "new")), DENIED),
        ("rpc save", member_a, format!("select * from public.save_capsule({})", capsule_json(org_a, "new")), DENIED),
        ("rpc save", admin_a, format!("select * from public.save_capsule({})", capsule_json(org_a, "new")), Ok(1)),
        ("rpc save", admin_a, format!("select * from public.save_capsule({})", capsule_json(org_b, "new")), DENIED),
        ("rpc new key", member_a, format!("select public.create_api_key('{org_a}', 'k')"), DENIED),
        ("rpc new key", admin_a, format!("select public.create_api_key('{org_a}', 'k')"), Ok(1)),
        ("rpc new key", admin_a, format!("select public.create_api_key('{org_b}', 'k')"), DENIED),
        ("rpc revoke", member_b, format!("select 1 where public.revoke_api_key('{key_a}')"), Ok(0)),
        ("rpc revoke", admin_a, format!("select 1 where public.revoke_api_key('{key_a}')"), Ok(1)),
        ("rpc helper", anon, "select * from private.organizations_of_caller()".into(), DENIED),
        // submissions: a user reads their own; members read all to their capsules; nobody else's; anon none.
        ("submissions read", anon, "select id from public.submissions".into(), DENIED),
        ("submissions read", member_a, "select id from public.submissions".into(), Ok(3)),
        ("submissions read", outsider, "select id from public.submissions".into(), Ok(1)),
        ("submissions read", member_b, "select id from public.submissions".into(), Ok(1)),
        (
            "submissions read",
            member_b,
            format!("select id from public.submissions where capsule_id = '{public_a}'"),
            Ok(0),
        ),
        ("submissions read", service, "select id from public.submissions".into(), Ok(4)),
        (
            "submissions write",
            admin_a,
            format!(
                "insert into public.submissions (capsule_id, capsule_version, organization_id, language, verdict, score, tests) \
                 values ('{public_a}', 1, '{org_a}', 'python', 'accepted', 1, '[]')"
            ),
            DENIED,
        ),
        ("submissions write", admin_a, "update public.submissions set score = 0".into(), DENIED),
        ("submissions write", owner_a, "delete from public.submissions".into(), DENIED),
        (
            "rpc record submission",
            admin_a,
            format!(
                "select * from public.record_submission('{public_a}', 1, 'python', 'accepted', 1, '[]', null, null, 'v')"
            ),
            DENIED,
        ),
        (
            "rpc record submission",
            service,
            format!(
                "select * from public.record_submission('{public_a}', 1, 'python', 'accepted', 1, '[]', null, null, 'v')"
            ),
            Ok(1),
        ),
        ("rpc list submissions", anon, format!("select * from public.capsule_submissions('{public_a}')"), DENIED),
        ("rpc list submissions", member_a, format!("select * from public.capsule_submissions('{public_a}')"), Ok(3)),
        ("rpc list submissions", member_b, format!("select * from public.capsule_submissions('{public_a}')"), Ok(0)),
        ("rpc list submissions", outsider, format!("select * from public.capsule_submissions('{public_a}')"), Ok(1)),
        (
            "rpc one submission",
            outsider,
            format!("select * from public.submission_by_id('{outsiders_submission}')"),
            Ok(1),
        ),
        (
            "rpc one submission",
            member_b,
            format!("select * from public.submission_by_id('{outsiders_submission}')"),
            Ok(0),
        ),
        // The public row of a capsule never takes a hidden test's body, whoever writes it.
        (
            "reader view only",
            service,
            format!(
                "update public.capsules set content = '{{\"tests\": [{{\"hidden\": true, \"stdin\": \"x\"}}]}}' where id = '{public_a}'"
            ),
            Err("23514"),
        ),
        (
            "hidden tests read",
            anon,
            format!("select 1 from public.capsules where id = '{public_a}' and content::text like '%HIDDEN%'"),
            Ok(0),
        ),
        (
            "hidden tests read",
            anon,
            format!("select 1 where public.capsule_by_id('{public_a}')::text like '%HIDDEN%'"),
            Ok(0),
        ),
        (
            "hidden tests read",
            member_b,
            format!("select 1 where public.capsule_by_id('{public_a}')::text like '%HIDDEN%'"),
            Ok(0),
        ),
        (
            "hidden tests read",
            member_a,
            format!("select 1 where public.capsule_by_id('{public_a}')::text like '%HIDDEN%'"),
            Ok(1),
        ),
    ];
    let mut failures = Vec::new();
    for (name, who, sql, expected) in &cases {
        let got = attempt(&mut client, *who, sql).await;
        let expected = expected.map_err(str::to_string);
        if got != expected {
            failures.push(format!("{name}: `{sql}` gave {got:?}, expected {expected:?}"));
        }
    }
    assert!(failures.is_empty(), "{} of {} RLS cases wrong:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

/// One data-access suite, run over each transport.
async fn data_access_suite(store: &Store, f: &Fixture, client: &tokio_postgres::Client) {
    let (member_a, admin_a, member_b, outsider) =
        (f.member_a.actor(), f.admin_a.actor(), f.member_b.actor(), f.outsider.actor());

    // Reading capsules: the solution only for the capsule's organization.
    let public =
        store.capsule(&Actor::Anonymous, f.public_a).await.unwrap().expect("anon reads a published public capsule");
    assert_eq!(public["id"], json!(f.public_a));
    assert_eq!(public["tests"][0]["id"], "t1");
    assert!(public.get("solution").is_none(), "anon never gets the solution: {public}");
    assert_eq!(store.capsule(&Actor::Anonymous, f.private_a).await.unwrap(), None);
    assert!(store.capsule(&member_b, f.public_a).await.unwrap().unwrap().get("solution").is_none());
    assert_eq!(store.capsule(&member_b, f.private_a).await.unwrap(), None);
    let own = store.capsule(&member_a, f.private_a).await.unwrap().expect("members read their drafts");
    assert!(own["solution"]["source"].as_str().unwrap().contains("private-a"));
    assert!(store.capsule(&Actor::Service, f.private_b).await.unwrap().unwrap().get("solution").is_some());
    assert_eq!(store.capsule(&Actor::Anonymous, Uuid::new_v4()).await.unwrap(), None);

    // Saving: admins only; versions move on; a stale version conflicts.
    let capsule: Capsule = serde_json::from_value(json!({
        "slug": "new-one", "title": "New", "language": "python", "solution": {"source": "print(2)"},
        "tests": [{"stdin": "SAVED-HIDDEN-IN", "expected_stdout": "SAVED-HIDDEN-OUT", "hidden": true}],
        "explanation_md": "SAVED-EXPLANATION"
    }))
    .unwrap();
    let refused =
        store.save_capsule(&member_a, f.org_a, &capsule, Visibility::Private, CapsuleStatus::Draft, None).await;
    assert!(matches!(refused, Err(StoreError::Forbidden { .. })), "{refused:?}");
    let saved = store
        .save_capsule(&admin_a, f.org_a, &capsule, Visibility::Public, CapsuleStatus::Published, None)
        .await
        .unwrap();
    assert_eq!(saved.version, 1);
    let again = store
        .save_capsule(&admin_a, f.org_a, &capsule, Visibility::Public, CapsuleStatus::Published, Some(1))
        .await
        .unwrap();
    assert_eq!((again.id, again.version), (saved.id, 2));
    let stale =
        store.save_capsule(&admin_a, f.org_a, &capsule, Visibility::Public, CapsuleStatus::Published, Some(1)).await;
    assert!(matches!(stale, Err(StoreError::Conflict { .. })), "{stale:?}");
    let read = store.capsule(&Actor::Anonymous, saved.id).await.unwrap().expect("published");
    assert_eq!((read["version"].clone(), read.get("solution")), (json!(2), None));
    // Readers get the reader's view from the public row: nothing of the hidden test, no explanation.
    let raw = read.to_string();
    assert!(!raw.contains("SAVED-HIDDEN") && !raw.contains("SAVED-EXPLANATION"), "{raw}");
    assert_eq!(read["tests"][0], json!({"id": "t1", "hidden": true, "weight": 1.0}));
    let public_row: Value =
        client.query_one("select content from public.capsules where id = $1", &[&saved.id]).await.unwrap().get(0);
    assert!(!public_row.to_string().contains("SAVED-HIDDEN"), "the public row itself: {public_row}");
    // Its authors get it whole, version and id filled in.
    let authored = store.authored_capsule(&admin_a, saved.id).await.unwrap().expect("the authors read it whole");
    assert_eq!(authored.capsule.tests[0].stdin, "SAVED-HIDDEN-IN");
    assert_eq!((authored.head.version, authored.capsule.explanation_md.as_str()), (2, "SAVED-EXPLANATION"));
    assert!(store.authored_capsule(&member_b, saved.id).await.unwrap().is_none(), "another organization");
    assert!(store.authored_capsule(&Actor::Anonymous, saved.id).await.unwrap().is_none());
    let head = store.capsule_head(&Actor::Service, saved.id).await.unwrap().unwrap();
    assert_eq!((head.version, head.is_open_to_readers()), (2, true));
    let mut invalid = capsule.clone();
    invalid.slug = Some("Not A Slug".into());
    let invalid =
        store.save_capsule(&admin_a, f.org_a, &invalid, Visibility::Private, CapsuleStatus::Draft, None).await;
    assert!(matches!(invalid, Err(StoreError::Invalid { .. })), "{invalid:?}");

    // Organizations and tiers.
    assert_eq!(store.organization_tier(&member_a, f.org_a).await.unwrap(), Some(Tier::Pro));
    assert_eq!(store.organization_tier(&member_a, f.org_b).await.unwrap(), None, "not a member: invisible");
    let created = store.create_organization(&outsider, "Outsider Inc").await.unwrap();
    assert_eq!(store.organization_tier(&outsider, created).await.unwrap(), Some(Tier::Free));
    let anonymous = store.create_organization(&Actor::Anonymous, "nobody").await;
    assert!(matches!(anonymous, Err(StoreError::Forbidden { .. } | StoreError::Unauthorized { .. })), "{anonymous:?}");

    // API keys: created once, found by hash, revoked at once.
    let key = store.create_api_key(&admin_a, f.org_a, "ci").await.unwrap();
    let parsed = codecapsule_state::guard::auth::ApiKey::parse(key.expose()).expect("the key has our format");
    let owner = store.authenticate_api_key(&parsed.prefix, &parsed.hash).await.unwrap().expect("a valid key");
    assert_eq!((owner.organization_id, owner.tier), (f.org_a, Tier::Pro));
    let wrong_hash = "0".repeat(64);
    assert_eq!(store.authenticate_api_key(&parsed.prefix, &wrong_hash).await.unwrap(), None);
    let refused = store.create_api_key(&member_a, f.org_a, "nope").await;
    assert!(matches!(refused, Err(StoreError::Forbidden { .. })), "{refused:?}");
    assert!(!store.revoke_api_key(&member_b, owner.key_id).await.unwrap(), "another organization cannot revoke it");
    assert!(store.revoke_api_key(&admin_a, owner.key_id).await.unwrap());
    assert_eq!(store.authenticate_api_key(&parsed.prefix, &parsed.hash).await.unwrap(), None, "revoked");

    // Usage: added up per organization and day.
    let usage = Usage {
        llm_calls: 2,
        llm_prompt_tokens: 100,
        llm_completion_tokens: 50,
        llm_cost_usd: 0.25,
        judge_runs: 3,
        judge_cpu_ms: 40,
    };
    store.record_usage(f.org_b, &usage).await.unwrap();
    store.record_usage(f.org_b, &usage).await.unwrap();
    let row = client
        .query_one(
            "select llm_calls, llm_prompt_tokens, llm_cost_usd::float8, judge_cpu_ms from public.usage_ledger \
             where organization_id = $1",
            &[&f.org_b],
        )
        .await
        .unwrap();
    assert_eq!(
        (row.get::<_, i32>(0), row.get::<_, i64>(1), row.get::<_, f64>(2), row.get::<_, i64>(3)),
        (4, 200, 0.5, 80)
    );

    // The switches, and one rate-limit bucket.
    let config = store.runtime_config().await.unwrap();
    assert_eq!(
        (config.per_minute(Tier::Free), config.per_minute(Tier::Pro), config.per_minute(Tier::B2b)),
        (10, 100, 1000)
    );
    assert!(config.judging_enabled && config.generation_enabled && config.ingest_enabled);
    let key = format!("suite:{}", Uuid::new_v4());
    let first = store.rate_limit_take(&key, 2, 2).await.unwrap();
    assert!(first.allowed);
    assert_eq!(first.remaining, 1);
    assert!(store.rate_limit_take(&key, 2, 2).await.unwrap().allowed);
    let refused = store.rate_limit_take(&key, 2, 2).await.unwrap();
    assert!(!refused.allowed);
    assert_eq!(refused.remaining, 0);
    assert!(refused.retry_after_ms > 29_000 && refused.retry_after_ms <= 30_000, "{refused:?}");
    assert!(refused.reset_after_ms > 59_000 && refused.reset_after_ms <= 60_000, "{refused:?}");

    // Submissions: recorded by the functions, read by their submitter and the capsule's members, paged newest first.
    let submission = |submitter: Submitter, verdict: Verdict| NewSubmission {
        capsule_id: f.public_a,
        capsule_version: 1,
        language: Language::Python,
        verdict,
        score: if verdict == Verdict::Accepted { 1.0 } else { 0.5 },
        tests: vec![SubmittedTest { id: "h1".into(), verdict, weight: 1.0 }],
        submitter,
    };
    let outsiders =
        store.record_submission(&submission(Submitter::User(f.outsider.id), Verdict::Accepted)).await.unwrap();
    let anonymous = submission(Submitter::Visitor("visitor-1".into()), Verdict::WrongAnswer);
    let visitors = store.record_submission(&anonymous).await.unwrap();
    let keys = store.record_submission(&submission(Submitter::ApiKey(f.org_a), Verdict::Accepted)).await.unwrap();
    let all = store.capsule_submissions(&member_a, f.public_a, None, 10).await.unwrap();
    assert_eq!(
        all.iter().map(|row| row.id).collect::<Vec<_>>(),
        vec![keys.submission_id, visitors.submission_id, outsiders.submission_id],
        "members read every submission to their capsules, newest first"
    );
    let hash = all[1].visitor_hash.clone().expect("an anonymous submission keeps its visitor's hash");
    assert!(hash.len() == 64 && !hash.contains("visitor-1"), "{hash}");
    let page = store.capsule_submissions(&member_a, f.public_a, Some(all[0].id), 1).await.unwrap();
    assert_eq!(page.iter().map(|row| row.id).collect::<Vec<_>>(), vec![visitors.submission_id], "the next page");
    let own = store.capsule_submissions(&outsider, f.public_a, None, 10).await.unwrap();
    assert_eq!(own.iter().map(|row| row.id).collect::<Vec<_>>(), vec![outsiders.submission_id], "a user's own");
    assert!(store.capsule_submissions(&member_b, f.public_a, None, 10).await.unwrap().is_empty(), "another org");
    let one = store.submission(&outsider, outsiders.submission_id).await.unwrap().expect("the submitter reads it");
    assert_eq!((one.verdict, one.user_id, one.organization_id), (Verdict::Accepted, Some(f.outsider.id), f.org_a));
    assert_eq!(store.submission(&member_b, outsiders.submission_id).await.unwrap(), None);
    assert_eq!(store.submission(&outsider, visitors.submission_id).await.unwrap(), None);
    let too_big = store.capsule_submissions(&member_a, f.public_a, None, 101).await;
    assert!(matches!(too_big, Err(StoreError::Invalid { .. })), "{too_big:?}");

    // The event stream's offsets move with the events they cover, and only from where the caller read them.
    let event = |id: u128| codecapsule_core::analytics::ValidEvent {
        event_id: Uuid::from_u128(id),
        capsule_id: f.public_a,
        kind: codecapsule_core::analytics::EventType::View,
        visitor_id: Some("stream-visitor".into()),
        session_id: None,
        ts: chrono::Utc::now(),
        duration_ms: None,
        language: None,
        widget_version: None,
    };
    let position = |from_offset, to_offset| StreamPosition { topic: "events", partition: 1, from_offset, to_offset };
    assert!(store.stream_offsets("events").await.unwrap().is_empty(), "no offset before the first read");
    let first = store.ingest_stream_events(&position(None, 2), &[event(1), event(1)]).await.unwrap();
    assert_eq!((first.accepted, first.duplicates), (1, 1), "a record sent twice is one event");
    let second = store.ingest_stream_events(&position(Some(2), 3), &[event(2)]).await.unwrap();
    assert_eq!((second.accepted, second.duplicates), (1, 0));
    assert_eq!(store.stream_offsets("events").await.unwrap(), vec![StoredOffset { partition: 1, next_offset: 3 }]);
    let stale = store.ingest_stream_events(&position(Some(2), 4), &[event(3)]).await;
    assert!(matches!(stale, Err(StoreError::Conflict { .. })), "a read from a moved offset: {stale:?}");
    assert_eq!(store.stream_offsets("events").await.unwrap(), vec![StoredOffset { partition: 1, next_offset: 3 }]);
    let stored: i64 = client
        .query_one(
            "select count(*) from analytics.events where event_id = any($1)",
            &[&vec![Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3)]],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 2, "nothing of a refused read is stored");
    assert!(store.stream_offsets("other").await.unwrap().is_empty(), "offsets are per topic");

    // The rollup counts them beside the widget's events: attempts, accepted, distinct solvers.
    let rollup = client.query_one("select outcome from public.rollup_analytics()", &[]).await.unwrap();
    assert_eq!(rollup.get::<_, String>(0), "done");
    let stats = client
        .query_one(
            "select coalesce(sum(verified_attempts), 0)::int8, coalesce(sum(verified_accepted), 0)::int8, \
                    coalesce(sum(verified_solvers), 0)::int8 \
             from analytics.capsule_hourly_stats where capsule_id = $1",
            &[&f.public_a],
        )
        .await
        .unwrap();
    assert_eq!((stats.get::<_, i64>(0), stats.get::<_, i64>(1), stats.get::<_, i64>(2)), (3, 2, 2));
}

#[tokio::test]
async fn the_direct_transport_passes_the_data_access_suite() {
    let postgres = TempPostgres::start().await;
    let client = postgres.client().await;
    let fixture = Fixture::create(&client).await;
    data_access_suite(&direct_store(&postgres, 2), &fixture, &client).await;
}

#[tokio::test]
async fn the_rest_transport_passes_the_data_access_suite() {
    let postgres = TempPostgres::start().await;
    let client = postgres.client().await;
    let fixture = Fixture::create(&client).await;
    data_access_suite(&rest_store(&postgres).await, &fixture, &client).await;
}

#[tokio::test]
async fn the_rest_transport_reports_refused_keys_and_unreachable_servers() {
    let postgres = TempPostgres::start().await;
    let server = PostgrestServer::start(&postgres.authenticator_url, JWT_SECRET).await;
    let forged = Store::Rest(RestStore::new(&server.url, Secret::new(anon_key()), Secret::new("not-a-jwt".into())));
    let refused = forged.runtime_config().await;
    assert!(matches!(refused, Err(StoreError::Unauthorized { .. })), "{refused:?}");
    let port = codecapsule_test_support::free_port();
    let nowhere = Store::Rest(RestStore::new(
        &format!("http://127.0.0.1:{port}"),
        Secret::new(anon_key()),
        Secret::new(service_key()),
    ));
    assert!(matches!(nowhere.runtime_config().await, Err(StoreError::Unavailable { .. })));
    let direct_nowhere = StateConfig::Direct {
        url: Secret::new(format!("postgres://postgres@127.0.0.1:{port}/postgres?sslmode=disable")),
        ca_cert: None,
        pool_size: 1,
    };
    let unavailable = direct_nowhere.store().unwrap().unwrap().runtime_config().await;
    assert!(matches!(unavailable, Err(StoreError::Unavailable { .. })), "{unavailable:?}");
}

/// 32 clients hammer one key for one window (6 s at 10 a minute): exactly the burst is admitted; concurrent keys do
/// not take from each other.
async fn limiter_accuracy(store: Store) {
    let hammer = |key: String, clients: usize, each: usize| {
        let store = store.clone();
        async move {
            let mut tasks = Vec::new();
            for _ in 0..clients {
                let (store, key) = (store.clone(), key.clone());
                tasks.push(tokio::spawn(async move {
                    let mut admitted = 0;
                    for _ in 0..each {
                        admitted += usize::from(store.rate_limit_take(&key, 10, 10).await.expect("a decision").allowed);
                    }
                    admitted
                }));
            }
            let mut admitted = 0;
            for task in tasks {
                admitted += task.await.unwrap();
            }
            admitted
        }
    };
    let started = std::time::Instant::now();
    let (one, two, three) = tokio::join!(
        hammer(format!("hammer:{}", Uuid::new_v4()), 32, 4),
        hammer(format!("hammer:{}", Uuid::new_v4()), 8, 4),
        hammer(format!("hammer:{}", Uuid::new_v4()), 2, 4),
    );
    // Within one emission interval (6 s) no request beyond the burst may be admitted.
    assert!(started.elapsed().as_secs_f64() < 6.0, "the hammering outlasted the window: {:?}", started.elapsed());
    assert_eq!(one, 10, "32 clients × 4 requests on one key admit exactly the burst");
    assert_eq!(two, 10, "another key, hammered at the same time, has its own burst");
    assert_eq!(three, 8, "a key asked 8 times admits all 8");
}

#[tokio::test]
async fn the_rate_limiter_admits_exactly_the_burst_directly() {
    let postgres = TempPostgres::start().await;
    limiter_accuracy(direct_store(&postgres, 8)).await;
}

#[tokio::test]
async fn the_rate_limiter_admits_exactly_the_burst_through_rest() {
    let postgres = TempPostgres::start().await;
    limiter_accuracy(rest_store(&postgres).await).await;
}
