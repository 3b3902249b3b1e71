//! Exposes the version of wasmi this build links (from the workspace's Cargo.lock) as CODECAPSULE_WASMI_VERSION,
//! so /api/judge and /api/health report the engine version that really runs.

fn main() {
    println!("cargo:rerun-if-changed=../../Cargo.lock");
    let lock = std::fs::read_to_string("../../Cargo.lock").unwrap_or_default();
    let version = lock
        .split("[[package]]")
        .filter(|package| package.lines().any(|line| line.trim() == "name = \"wasmi\""))
        .find_map(|package| package.lines().find_map(|line| line.trim().strip_prefix("version = \"")))
        .map(|version| version.trim_end_matches('"').to_string())
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=CODECAPSULE_WASMI_VERSION={version}");
}
