//! Snapshots computed ahead of time, into the packs: `make packs` runs `codecapsule-bake-snapshots` after fetching
//! them, so that a cold instance loads a runtime without running its warm-up (on wasmi: CPython's boot ~0.35 s,
//! Ruby's ~2.4 s). A baked snapshot is what loading would take itself, written to `<pack>/snapshot.bin` and named
//! in the manifest with its SHA-256; the file also records the module and launch it was taken of, and loading
//! takes the snapshot afresh when they differ (see [`super::snapshot`]).

use super::launch::{FetchedPack, LoadedRuntime};
use super::packs::{PackSource, SnapshotFile};
use super::{LANGUAGES, RuntimeError};
use sha2::{Digest, Sha256};
use std::path::Path;

/// The snapshot file's name in a pack.
const SNAPSHOT_FILE: &str = "snapshot.bin";

/// What baking wrote for one pack.
#[derive(Debug, Clone)]
pub struct Baked {
    /// The pack.
    pub pack: String,
    /// The snapshot file's size in bytes.
    pub bytes: usize,
}

/// Takes the snapshot of every pack in `directory` that has a warm-up, writes it into the pack and names it in the
/// pack's manifest. Packs without a warm-up (QuickJS-NG's) are left as they are.
pub async fn bake_snapshots(directory: &Path) -> Result<Vec<Baked>, RuntimeError> {
    let source = PackSource::Directory(directory.to_path_buf());
    let mut baked = Vec::new();
    for language in LANGUAGES {
        let fetched = match FetchedPack::fetch(&source, language).await {
            Ok(fetched) => fetched.without_snapshot(),
            Err(RuntimeError::NoPack { .. }) => continue,
            Err(err) => return Err(err),
        };
        let pack = fetched.pack.clone();
        let runtime = LoadedRuntime::build(fetched)?;
        let Some(snapshot) = &runtime.snapshot else { continue };
        let file = snapshot.encode(&runtime.manifest.sha256, &runtime.manifest.launch.digest());
        let write_error = |key: String, err: std::io::Error| RuntimeError::Fetch { key, reason: err.to_string() };
        let folder = directory.join(&pack);
        std::fs::write(folder.join(SNAPSHOT_FILE), &file)
            .map_err(|err| write_error(format!("{pack}/{SNAPSHOT_FILE}"), err))?;

        // The manifest as written by tools/fetch_runtime_packs.py, with the snapshot named in it.
        let manifest_key = format!("{pack}/manifest.json");
        let manifest_path = folder.join("manifest.json");
        let text = std::fs::read(&manifest_path).map_err(|err| write_error(manifest_key.clone(), err))?;
        let invalid = |reason: String| RuntimeError::Manifest { key: manifest_key.clone(), reason };
        let mut manifest: serde_json::Value = serde_json::from_slice(&text).map_err(|err| invalid(err.to_string()))?;
        let named = SnapshotFile { file: SNAPSHOT_FILE.into(), sha256: format!("{:x}", Sha256::digest(&file)) };
        manifest["snapshot"] = serde_json::to_value(named).map_err(|err| invalid(err.to_string()))?;
        let mut text = serde_json::to_vec_pretty(&manifest).map_err(|err| invalid(err.to_string()))?;
        text.push(b'\n');
        std::fs::write(&manifest_path, text).map_err(|err| write_error(manifest_key.clone(), err))?;
        baked.push(Baked { pack, bytes: file.len() });
    }
    Ok(baked)
}
