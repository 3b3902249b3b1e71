//! CodeCapsule's AI side: capsules written by an LLM and proved by running them.
//!
//! - [`llm`]: the LLM client (Azure OpenAI, OpenAI-compatible servers, replayed transcripts) with structured outputs,
//!   retries and pricing;
//! - [`generation`]: the engine that writes capsules, judges them and repairs them when they fail (self-healing);
//! - [`objects`]: where capsules are published by content hash (a directory, or R2/S3 with the `s3` feature).

pub mod generation;
pub mod llm;
pub mod objects;
