//! The loaded runtimes of one process: loaded on first use, one load at a time, least recently used out past the cap.

use super::RuntimeError;
use super::launch::{FetchedPack, LoadedRuntime};
use super::packs::PackSource;
use codecapsule_core::config::{self, ConfigError};
use codecapsule_core::judge::millis;
use codecapsule_core::model::Language;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Default cap of the loaded-runtime cache.
const DEFAULT_CACHE_MB: u64 = 384;

/// The loaded runtimes of one process, shared by all requests.
pub struct RuntimePacks {
    source: PackSource,
    cache_bytes: usize,
    state: Mutex<CacheState>,
    /// One load at a time: a second request for a loading language waits instead of loading it twice.
    loading: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct CacheState {
    loaded: Vec<(Language, Arc<LoadedRuntime>)>,
}

impl RuntimePacks {
    /// A cache over `source`, holding at most `cache_bytes` of estimated footprint.
    pub fn new(source: PackSource, cache_bytes: usize) -> RuntimePacks {
        RuntimePacks { source, cache_bytes, state: Mutex::default(), loading: tokio::sync::Mutex::new(()) }
    }

    /// The packs store from the environment, cache size RUNTIME_CACHE_MB.
    pub fn from_env() -> Result<RuntimePacks, ConfigError> {
        let megabytes = config::read("RUNTIME_CACHE_MB")
            .map(|value| {
                value.parse::<u64>().map_err(|_| ConfigError::Invalid {
                    var: "RUNTIME_CACHE_MB",
                    value: value.clone(),
                    expected: "a whole number of megabytes".into(),
                })
            })
            .transpose()?
            .unwrap_or(DEFAULT_CACHE_MB);
        Ok(RuntimePacks::new(PackSource::from_env()?, usize::try_from(megabytes << 20).unwrap_or(usize::MAX)))
    }

    /// Where the packs are read from.
    pub fn source(&self) -> &PackSource {
        &self.source
    }

    /// The runtime of `language`, loaded on first use: the pack is read without blocking the async runtime, then
    /// compiled on a blocking thread.
    pub async fn get(&self, language: Language) -> Result<Arc<LoadedRuntime>, RuntimeError> {
        if let Some(runtime) = self.cached(language) {
            return Ok(runtime);
        }
        let _one_load = self.loading.lock().await;
        if let Some(runtime) = self.cached(language) {
            return Ok(runtime);
        }
        let started = Instant::now();
        let fetched = FetchedPack::fetch(&self.source, language).await?;
        let built = tokio::task::spawn_blocking(move || LoadedRuntime::build(fetched)).await;
        let runtime = Arc::new(built.map_err(|err| {
            tracing::error!(error = %err, %language, "a runtime's loading thread failed");
            RuntimeError::LoadCrashed { language }
        })??);
        tracing::info!(
            pack = %runtime.pack,
            load_ms = millis(started.elapsed()),
            startup_ms = millis(runtime.startup.time),
            snapshot = runtime.snapshot.is_some(),
            without_snapshot = runtime.snapshot_unavailable.as_deref().unwrap_or(""),
            "language runtime loaded"
        );
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        state.loaded.push((language, runtime.clone()));
        // Least recently used first out, never the one just loaded.
        while state.loaded.len() > 1
            && state.loaded.iter().map(|(_, runtime)| runtime.footprint).sum::<usize>() > self.cache_bytes
        {
            let (evicted, _) = state.loaded.remove(0);
            tracing::info!(language = %evicted, "language runtime evicted from the cache");
        }
        Ok(runtime)
    }

    /// A cached runtime, marked as most recently used.
    fn cached(&self, language: Language) -> Option<Arc<LoadedRuntime>> {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let position = state.loaded.iter().position(|(cached, _)| *cached == language)?;
        let entry = state.loaded.remove(position);
        let runtime = entry.1.clone();
        state.loaded.push(entry);
        Some(runtime)
    }
}
