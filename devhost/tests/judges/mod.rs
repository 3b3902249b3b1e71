//! The judges of the dev host's tests, as `make run` has them.

use codecapsule_core::config::ConfigError;
use codecapsule_core::judge::{Judge, JudgeList};
use codecapsule_native::{NativeJudge, Runtime};
use codecapsule_wasm::runtimes::{PackSource, RuntimeJudge, RuntimePacks};
use std::path::Path;
use std::sync::Arc;

/// Every judge: WebAssembly in-process (the language runtimes' packs from `make packs`), the native judges here.
pub fn every_judge() -> Result<JudgeList, ConfigError> {
    let packs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.data/objects/runtimes");
    assert!(packs.join("index.json").is_file(), "no runtime packs in {}: run `make packs`", packs.display());
    Ok(vec![
        Arc::new(codecapsule_wasm::WasmJudge) as Arc<dyn Judge>,
        Arc::new(RuntimeJudge::new(Arc::new(RuntimePacks::new(PackSource::Directory(packs), 1 << 30)))),
        Arc::new(NativeJudge::new(Runtime::python())),
        Arc::new(NativeJudge::new(Runtime::java())),
        Arc::new(NativeJudge::new(Runtime::csharp())),
    ])
}
