#!/usr/bin/env bash
# Builds what scripts/gpu-check.sh runs on a GPU machine (which has no Rust): the CUDA test
# binaries of kiln-tests and the release `kiln` binary, stripped, plus the PyTorch parity
# fixture, into one folder (default gpu-bin/, ignored by git through .git/info/exclude).
#
#   scripts/build-gpu-bin.sh [OUT_DIR]
#
# Then, with the device tool: run `bash scripts/gpu-check.sh gpu-bin` with carry ["gpu-bin"].
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-gpu-bin}"
mkdir -p "$out"
case "$out" in
  /*) ;;  # outside the repository: nothing to ignore
  *)
    exclude="$(git rev-parse --git-path info/exclude)"
    mkdir -p "$(dirname "$exclude")"
    grep -qxF "/$out/" "$exclude" 2>/dev/null || echo "/$out/" >> "$exclude"
    grep -qxF "/gpu-check-logs/" "$exclude" || echo "/gpu-check-logs/" >> "$exclude"
    ;;
esac

echo "== building the CUDA test binaries (kiln-tests, feature cuda)"
cargo test -p kiln-tests --release --features cuda --no-run --message-format=json \
  > "$out/.cargo-tests.json"
python3 - "$out" <<'PY'
import json, os, shutil, sys
out = sys.argv[1]
for line in open(os.path.join(out, ".cargo-tests.json")):
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    exe = msg.get("executable")
    if msg.get("reason") == "compiler-artifact" and exe and msg.get("profile", {}).get("test"):
        name = msg["target"]["name"]
        if msg["target"].get("kind") == ["lib"]:
            name = "kiln_tests_lib"
        dst = os.path.join(out, name)
        shutil.copyfile(exe, dst)
        os.chmod(dst, 0o755)
        print("  ", dst)
PY
rm -f "$out/.cargo-tests.json"

echo "== building kiln (kiln-cli, feature cuda)"
if cargo build --release --features cuda -p kiln-cli; then
  cp target/release/kiln "$out/kiln"
else
  echo "WARNING: kiln-cli did not build with --features cuda; gpu-check.sh will skip the benchmark" >&2
fi

strip "$out"/* 2>/dev/null || true

fixture="${KILN_PARITY_FIXTURE:-../shared/fixtures/pytorch-parity}"
if [ -f "$fixture/meta.json" ]; then
  mkdir -p "$out/fixtures/pytorch-parity"
  cp "$fixture"/* "$out/fixtures/pytorch-parity/"
else
  echo "WARNING: no parity fixture at $fixture; the PyTorch parity tests will be skipped" >&2
fi
jpegs="${KILN_DATA:-../shared/data}/cifar10-jpg.tar.gz"
if [ -f "$jpegs" ]; then
  cp "$jpegs" "$out/"
else
  echo "WARNING: no $jpegs; gpu-check.sh will skip the real-data training run" >&2
fi
du -sh "$out"
ls -l "$out"
