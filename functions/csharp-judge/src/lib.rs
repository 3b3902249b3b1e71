//! The csharp-judge function: POST /api/judge for C#, compiled once and run per test in the native sandbox
//! (codecapsule_sandbox, codecapsule_native). Same contract as the WebAssembly judge.

use axum::Router;
use codecapsule_core::access::Deployment;
use codecapsule_core::judge::Judge;
use codecapsule_native::{NativeJudge, Runtime};
use codecapsule_web::host;
use std::sync::Arc;

/// The function as its binary and the local dev host see it. It keeps no state, so it runs in any deployment.
pub const fn function<D: Deployment>() -> host::Function<D> {
    host::Function {
        name: "csharp-judge",
        routes: &["POST /api/judge"],
        judges: || Ok(vec![Arc::new(NativeJudge::new(Runtime::csharp())) as Arc<dyn Judge>]),
        // No routes beyond POST /api/judge, which the host adds for the judges above.
        router: |_judges, _deployment| Ok(Router::new()),
        scheduled: None,
        response_streaming: false,
    }
}
