//! Nothing but tests: the edge Worker's are in tests/worker.rs (the Worker itself is edge/, its own workspace, built
//! for wasm32-unknown-unknown).
