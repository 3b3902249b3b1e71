//! What only `make run` and the tests use, kept out of the production crates:
//! - [`local`]: a PostgreSQL cluster of our own (initdb + pg_ctl into a directory, a free port);
//! - [`migrations`]: supabase/migrations and their rollbacks embedded, applied to that cluster (production applies
//!   them with the Supabase CLI).

#![warn(missing_docs)]

pub mod local;
pub mod migrations;
