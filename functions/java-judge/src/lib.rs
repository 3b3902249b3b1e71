//! The java-judge function: POST /api/judge for Java, compiled once and run per test in the native sandbox
//! (codecapsule::sandbox, codecapsule::native). Same contract as the WebAssembly judge.

use axum::Router;
use codecapsule::config::ConfigError;
use codecapsule::guard::Guard;
use codecapsule::host;
use codecapsule::judge::{Judge, Judges};
use codecapsule::native::{NativeJudge, Runtime};
use std::sync::Arc;

/// The function as its binary and the local dev host see it.
pub const FUNCTION: host::Function = host::Function {
    name: "java-judge",
    routes: &["POST /api/judge"],
    judges: || Ok(vec![Arc::new(NativeJudge::new(Runtime::java())) as Arc<dyn Judge>]),
    router,
    scheduled: None,
    response_streaming: false,
};

/// No routes beyond POST /api/judge, which the host adds for the judges above.
fn router(_judges: Judges, _guard: &Guard) -> Result<Router, ConfigError> {
    Ok(Router::new())
}
