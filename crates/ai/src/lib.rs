//! CodeCapsule's AI side: capsules written by an LLM and proved by running them.
//!
//! - [`llm`]: the LLM client (Azure OpenAI, OpenAI-compatible servers, replayed transcripts) with structured outputs,
//!   retries and pricing;
//! - [`generation`]: the engine that writes capsules, judges them and repairs them when they fail (self-healing);
//! - [`healing`]: validation that heals an invalid capsule when a model is configured (validate's and authoring's);
//! - [`billing`]: what an organization may still spend on models today, and the ledger of every call;
//! - [`objects`]: where capsules are published by content hash (a directory, or R2/S3 with the `s3` feature).

#![warn(missing_docs)]

pub mod billing;
pub mod generation;
pub mod healing;
pub mod llm;
pub mod objects;
