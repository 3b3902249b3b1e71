//! CodeCapsule's common library.
//!
//! - [`analytics`]: widget events, their per-event validation, retention;
//! - [`model`]: the public contract (architecture.md section 4), shared by every function;
//! - [`compare`] and [`judge`]: the judging domain, which knows nothing of HTTP, Lambda or Azure;
//! - [`wasm`] (feature `wasm`): the in-process WebAssembly engine;
//! - [`sandbox`] and [`native`] (feature `sandbox`): the layered native sandbox and the Python, Java and C# judges;
//! - [`http`]: the HTTP conventions of every function (problem+json, body limits, JSON, CORS, health, request ids);
//! - [`host`]: the adapters that run a function's router on AWS Lambda, as an Azure custom handler, or locally;
//! - [`validation`]: capsule validation over any [`judge::Judge`];
//! - [`secrets`] (feature `secrets`): secrets from AWS Secrets Manager or the environment, lazy and cached;
//! - [`remote`] (feature `remote`): a judge in another function, reached over HTTPS;
//! - [`generation`] (feature `ai`): the AI engine that writes capsules and proves them by running them;
//! - [`objects`] (feature `ai`): where capsules are published by content hash;
//! - [`llm`] (feature `ai`): the LLM client with structured outputs, retries, pricing, and transcript replay;
//! - [`config`]: typed configuration from the environment;
//! - [`state`] (feature `state`): Supabase state, one interface over PostgreSQL directly or Supabase's REST API;
//! - [`guard`]: authentication, kill switches and rate limits in front of the public routes (on with `state`).

pub mod analytics;
pub mod compare;
pub mod config;
#[cfg(feature = "ai")]
pub mod generation;
pub mod guard;
pub mod host;
pub mod http;
pub mod judge;
#[cfg(feature = "ai")]
pub mod llm;
pub mod model;
#[cfg(feature = "sandbox")]
pub mod native;
#[cfg(feature = "ai")]
pub mod objects;
#[cfg(feature = "remote")]
pub mod remote;
#[cfg(feature = "sandbox")]
pub mod sandbox;
#[cfg(feature = "secrets")]
pub mod secrets;
#[cfg(feature = "state")]
pub mod state;
pub mod validation;
#[cfg(feature = "wasm")]
pub mod wasm;
