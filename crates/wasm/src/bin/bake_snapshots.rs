//! `codecapsule-bake-snapshots [PACKS_DIR]` (default `.data/objects/runtimes`): the second step of `make packs`,
//! after tools/fetch_runtime_packs.py. Takes each runtime pack's snapshot ahead of time and writes it into the pack
//! (see `codecapsule_wasm::runtimes::bake_snapshots`).

use std::path::PathBuf;
use std::process::ExitCode;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let directory = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| ".data/objects/runtimes".into()));
    match codecapsule_wasm::runtimes::bake_snapshots(&directory).await {
        Ok(baked) => {
            for pack in baked {
                eprintln!("{}: snapshot.bin ({} bytes)", pack.pack, pack.bytes);
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("cannot bake the runtime packs' snapshots in {}: {err}", directory.display());
            ExitCode::FAILURE
        }
    }
}
