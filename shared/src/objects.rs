//! The object store of capsules: `capsules/<sha256 of the content>.json`, the public form of a capsule (never its
//! solution), so that widgets and CDNs can fetch it by content hash. Today a local directory (OBJECTS_DIR, default
//! .data/objects: the embedded default of `make run`); Cloudflare R2 through the S3 API is the cloud store of the
//! deployment plan and is not built yet.

use crate::config::{self, ConfigError};
use crate::model::{Capsule, CapsuleCode};
use sha2::{Digest, Sha256};
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub enum ObjectStore {
    Local { root: PathBuf },
}

#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    #[error("cannot write {path}: {source}; check OBJECTS_DIR")]
    Write { path: String, source: std::io::Error },
}

impl ObjectStore {
    /// OBJECTS_DIR, default `.data/objects`.
    pub fn from_env() -> Result<ObjectStore, ConfigError> {
        Ok(ObjectStore::Local { root: config::read("OBJECTS_DIR").unwrap_or_else(|| ".data/objects".into()).into() })
    }

    /// Stores the public form of `capsule` (solution removed) under its content hash; returns the key.
    pub async fn put_capsule(&self, capsule: &Capsule) -> Result<String, ObjectError> {
        let mut public = capsule.clone();
        public.solution = CapsuleCode::default();
        let body = serde_json::to_vec_pretty(&public).unwrap_or_default();
        let hash = Sha256::digest(&body).iter().map(|byte| format!("{byte:02x}")).collect::<String>();
        let key = format!("capsules/{hash}.json");
        match self {
            ObjectStore::Local { root } => {
                let path = root.join(&key);
                let write = async {
                    tokio::fs::create_dir_all(path.parent().unwrap_or(root)).await?;
                    // Written aside and renamed: a reader never sees half a file.
                    let partial = path.with_extension(format!("partial-{}", uuid::Uuid::new_v4().simple()));
                    tokio::fs::write(&partial, &body).await?;
                    tokio::fs::rename(&partial, &path).await
                };
                write.await.map_err(|source| ObjectError::Write { path: path.display().to_string(), source })?;
            }
        }
        Ok(key)
    }
}
