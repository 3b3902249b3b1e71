//! CodeCapsule's domain core: what every function and the edge share, free of I/O, async runtimes and HTTP servers
//! (it builds for wasm32-unknown-unknown, which CI checks).
//!
//! - [`model`]: the public contract, the request and answer bodies of every route;
//! - [`compare`] and [`judge`]: the judging domain (a checked submission, the [`judge::Judge`] port, grading, limits);
//! - [`function`]: function-call tests: typed signatures, the harness protocol, starter code;
//! - [`deadline`]: a request's one time budget, which every run of it draws from;
//! - [`validation`]: capsule validation over any [`judge::Judge`];
//! - [`reader`]: what readers see of a capsule and of their submissions (never a hidden test), and run mode;
//! - [`analytics`]: widget events, their per-event validation, retention;
//! - [`access`]: who calls (actor, tier), what a route does, and the guard's port;
//! - [`config`]: typed configuration from the environment.

#![warn(missing_docs)]

pub mod access;
pub mod analytics;
pub mod compare;
pub mod config;
pub mod deadline;
pub mod eventhubs;
pub mod function;
pub mod judge;
pub mod media;
pub mod model;
pub mod rate;
pub mod reader;
pub mod validation;
