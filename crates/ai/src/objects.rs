//! The object store of capsules: `capsules/<sha256 of the content>.json`, the reader's view of a capsule (never its
//! solution or a hidden test's input and expectations), so that widgets and CDNs can fetch it by content hash.
//!
//! Backends: a local directory (OBJECTS_DIR, default .data/objects: the embedded default of `make run`), or, with the
//! `s3` feature, Cloudflare R2 or any S3 through the S3 API: OBJECTS_S3_BUCKET, OBJECTS_S3_ENDPOINT
//! (`https://<account>.r2.cloudflarestorage.com`), OBJECTS_S3_REGION (default `auto`, R2's), path-style addressing,
//! and CLOUDFLARE_R2_ACCESS_KEY / CLOUDFLARE_R2_SECRET_KEY (else AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
//! AWS_SESSION_TOKEN, as Lambda sets them for the function's role). The S3 client is built on first use, never at
//! start-up, with rustls on ring (no aws-config, no aws-lc-rs: the binary stays small).

use codecapsule_core::config::{self, ConfigError};
use codecapsule_core::model::Capsule;
use codecapsule_core::reader::ReaderCapsule;
use sha2::{Digest, Sha256};
use std::path::PathBuf;

#[derive(Debug, Clone)]
/// Where published capsules are written.
pub enum ObjectStore {
    /// A directory (OBJECTS_DIR), as `make run` serves it.
    Local {
        /// The directory.
        root: PathBuf,
    },
    #[cfg(feature = "s3")]
    /// A bucket of Cloudflare R2 (or S3).
    S3(s3::S3Store),
}

#[derive(Debug, thiserror::Error)]
/// Why a capsule could not be published.
pub enum ObjectError {
    #[error("cannot write {path}: {source}; check OBJECTS_DIR")]
    /// A file could not be written.
    Write {
        /// The file.
        path: String,
        /// Why it could not be written.
        source: std::io::Error,
    },
    #[error("cannot store {key} in bucket {bucket}: {reason}; check OBJECTS_S3_* and the R2 keys")]
    /// An object could not be uploaded.
    Upload {
        /// The bucket.
        bucket: String,
        /// The object's key.
        key: String,
        /// What S3 answered.
        reason: String,
    },
}

impl ObjectStore {
    /// OBJECTS_S3_BUCKET (with the `s3` feature), else OBJECTS_DIR (default `.data/objects`).
    pub fn from_env() -> Result<ObjectStore, ConfigError> {
        #[cfg(feature = "s3")]
        if let Some(store) = s3::S3Store::from_env()? {
            return Ok(ObjectStore::S3(store));
        }
        Ok(ObjectStore::Local { root: config::read("OBJECTS_DIR").unwrap_or_else(|| ".data/objects".into()).into() })
    }

    /// Stores the reader's view of `capsule` ([`ReaderCapsule::of`]: no solution, nothing of a hidden test but its id
    /// and weight) under its content hash; returns the key.
    pub async fn put_capsule(&self, capsule: &Capsule) -> Result<String, ObjectError> {
        let body = serde_json::to_vec_pretty(&ReaderCapsule::of(capsule)).unwrap_or_default();
        let hash = format!("{:x}", Sha256::digest(&body));
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
            #[cfg(feature = "s3")]
            ObjectStore::S3(store) => store.put(&key, body).await?,
        }
        Ok(key)
    }
}

/// The S3 backend (Cloudflare R2): the client is built on first use, with rustls on ring.
#[cfg(feature = "s3")]
pub mod s3 {
    use super::ObjectError;
    use codecapsule_core::config::{self, ConfigError, Secret};
    use std::sync::Arc;

    /// A bucket reached through the S3 API.
    #[derive(Debug, Clone)]
    pub struct S3Store {
        /// The bucket.
        pub bucket: String,
        /// The S3 endpoint (R2's account endpoint); AWS's when absent.
        pub endpoint: Option<String>,
        /// The signing region (`auto` for R2).
        pub region: String,
        /// R2's access key id and secret; the environment's AWS credentials when absent.
        pub credentials: Option<(Secret, Secret)>,
        client: Arc<tokio::sync::OnceCell<aws_sdk_s3::Client>>,
    }

    impl S3Store {
        /// A store of `bucket` at `endpoint`.
        pub fn new(
            bucket: String,
            endpoint: Option<String>,
            region: String,
            credentials: Option<(Secret, Secret)>,
        ) -> S3Store {
            S3Store { bucket, endpoint, region, credentials, client: Arc::new(tokio::sync::OnceCell::new()) }
        }

        /// OBJECTS_S3_BUCKET and its settings, or `None` when unset.
        pub fn from_env() -> Result<Option<S3Store>, ConfigError> {
            let Some(bucket) = config::read("OBJECTS_S3_BUCKET") else { return Ok(None) };
            let endpoint = config::read("OBJECTS_S3_ENDPOINT");
            if let Some(endpoint) = &endpoint
                && !endpoint.starts_with("https://")
                && !endpoint.starts_with("http://")
            {
                return Err(ConfigError::Invalid {
                    var: "OBJECTS_S3_ENDPOINT",
                    value: endpoint.clone(),
                    expected: "an http(s) URL such as https://<account>.r2.cloudflarestorage.com".into(),
                });
            }
            let credentials = match (config::read("CLOUDFLARE_R2_ACCESS_KEY"), config::read("CLOUDFLARE_R2_SECRET_KEY"))
            {
                (Some(access), Some(secret)) => Some((Secret::new(access), Secret::new(secret))),
                (None, None) => None,
                _ => {
                    return Err(ConfigError::Invalid {
                        var: "CLOUDFLARE_R2_SECRET_KEY",
                        value: "[redacted]".into(),
                        expected: "both CLOUDFLARE_R2_ACCESS_KEY and CLOUDFLARE_R2_SECRET_KEY, or neither".into(),
                    });
                }
            };
            Ok(Some(S3Store::new(
                bucket,
                endpoint,
                config::read("OBJECTS_S3_REGION").unwrap_or_else(|| "auto".into()),
                credentials,
            )))
        }

        async fn client(&self) -> &aws_sdk_s3::Client {
            self.client
                .get_or_init(|| async {
                    use aws_smithy_http_client::tls;
                    let http = aws_smithy_http_client::Builder::new()
                        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
                        .build_https();
                    // R2 (and most S3-compatible stores) want path-style URLs: <endpoint>/<bucket>/<key>.
                    let mut config = aws_sdk_s3::Config::builder()
                        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
                        .region(aws_sdk_s3::config::Region::new(self.region.clone()))
                        .http_client(http)
                        .force_path_style(true);
                    if let Some(endpoint) = &self.endpoint {
                        config = config.endpoint_url(endpoint);
                    }
                    let credentials = match &self.credentials {
                        Some((access, secret)) => Some(aws_credential_types::Credentials::new(
                            access.expose(),
                            secret.expose(),
                            None,
                            None,
                            "cloudflare-r2",
                        )),
                        // Without R2 keys: the function's role, whose credentials Lambda puts in the environment.
                        None => config::aws_environment_credentials().map(|keys| {
                            aws_credential_types::Credentials::new(
                                keys.access_key_id,
                                keys.secret_access_key.expose(),
                                keys.session_token.map(|token| token.expose().to_string()),
                                None,
                                "environment",
                            )
                        }),
                    };
                    if let Some(credentials) = credentials {
                        config = config.credentials_provider(credentials);
                    }
                    aws_sdk_s3::Client::from_conf(config.build())
                })
                .await
        }

        /// Writes `body` at `key`.
        pub async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), ObjectError> {
            self.client()
                .await
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .content_type("application/json")
                .cache_control("public, max-age=31536000, immutable")
                .body(body.into())
                .send()
                .await
                .map(drop)
                .map_err(|err| ObjectError::Upload {
                    bucket: self.bucket.clone(),
                    key: key.to_string(),
                    reason: aws_sdk_s3::error::DisplayErrorContext(&err).to_string(),
                })
        }

        /// The object at `key` (tests and tools).
        pub async fn get(&self, key: &str) -> Result<Vec<u8>, ObjectError> {
            let object =
                self.client().await.get_object().bucket(&self.bucket).key(key).send().await.map_err(|err| {
                    ObjectError::Upload {
                        bucket: self.bucket.clone(),
                        key: key.to_string(),
                        reason: aws_sdk_s3::error::DisplayErrorContext(&err).to_string(),
                    }
                })?;
            let bytes = object.body.collect().await.map_err(|err| ObjectError::Upload {
                bucket: self.bucket.clone(),
                key: key.to_string(),
                reason: err.to_string(),
            })?;
            Ok(bytes.into_bytes().to_vec())
        }
    }
}
