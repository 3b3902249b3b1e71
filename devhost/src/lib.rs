//! The functions the local dev host serves (`make run`), in one list that the host and its tests share.

#![warn(missing_docs)]

use codecapsule_state::guard::Stateful;
use codecapsule_web::host::Function;

/// Every function that exists so far; each new function adds its `FUNCTION` here.
pub const FUNCTIONS: &[Function<Stateful>] = &[
    validate::FUNCTION,
    python_judge::function(),
    java_judge::function(),
    csharp_judge::function(),
    analytics_ingest::FUNCTION,
    analytics_processor::FUNCTION,
    generate::FUNCTION,
];
