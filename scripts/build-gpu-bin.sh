#!/usr/bin/env bash
# Builds what scripts/gpu-check.sh runs on a GPU machine (which has no Rust) into one folder
# (default gpu-bin/, ignored by git through .git/info/exclude):
#   - every GPU test binary of kiln-tests (tests/tests/cuda_*.rs, feature cuda), stripped;
#     cuda_kernels_emulated is left out: it runs the kernels on the CPU, in CI;
#   - the release `kiln` binary with --features cuda, stripped;
#   - the PyTorch parity fixture (../shared/fixtures/pytorch-parity) and the CIFAR-10 JPEG
#     tarball (../shared/data/cifar10-jpg.tar.gz).
# The folder must stay under the device tool's 64 MiB carry limit; the script checks it.
#
#   scripts/build-gpu-bin.sh [OUT_DIR]
#
# Then, with the device tool: `bash scripts/gpu-check.sh gpu-bin` with carry ["gpu-bin"].
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-gpu-bin}"
limit_mib=64
case "$out" in ""|/|.|..) echo "refusing to empty $out" >&2; exit 2 ;; esac
rm -rf "$out"
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

targets=()
for f in tests/tests/cuda_*.rs; do
  name="$(basename "$f" .rs)"
  [ "$name" = cuda_kernels_emulated ] && continue
  targets+=(--test "$name")
done
echo "== building the GPU test binaries (kiln-tests, feature cuda): ${targets[*]}"
cargo test -p kiln-tests --release --features cuda --no-run --message-format=json "${targets[@]}" \
  > "$out/.cargo-tests.json"
python3 - "$out" <<'PY'
import json, os, shutil, sys
out = sys.argv[1]
n = 0
for line in open(os.path.join(out, ".cargo-tests.json")):
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    exe = msg.get("executable")
    if msg.get("reason") == "compiler-artifact" and exe and msg.get("profile", {}).get("test"):
        dst = os.path.join(out, msg["target"]["name"])
        shutil.copyfile(exe, dst)
        os.chmod(dst, 0o755)
        n += 1
        print("  ", dst)
if n == 0:
    sys.exit("no test binaries came out of cargo")
PY
rm -f "$out/.cargo-tests.json"

echo "== building kiln (kiln-cli, feature cuda)"
cargo build --release --features cuda -p kiln-cli
cp target/release/kiln "$out/kiln"

for f in "$out"/*; do
  [ -f "$f" ] && [ -x "$f" ] && strip "$f"
done

fixture="${KILN_PARITY_FIXTURE:-../shared/fixtures/pytorch-parity}"
if [ -f "$fixture/meta.json" ]; then
  mkdir -p "$out/fixtures/pytorch-parity"
  cp "$fixture"/* "$out/fixtures/pytorch-parity/"
else
  echo "WARNING: no parity fixture at $fixture; the PyTorch parity tests will print SKIPPED" >&2
fi
jpegs="${KILN_DATA:-../shared/data}/cifar10-jpg.tar.gz"
if [ -f "$jpegs" ]; then
  cp "$jpegs" "$out/"
else
  echo "WARNING: no $jpegs; gpu-check.sh will skip the grid search" >&2
fi

ls -l "$out"
bytes="$(du -sb "$out" | cut -f1)"
mib="$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }')"
echo "total: $mib MiB in $out (carry limit $limit_mib MiB)"
if [ "$bytes" -gt $((limit_mib * 1048576)) ]; then
  echo "ERROR: $out is over the $limit_mib MiB the device tool carries" >&2
  exit 1
fi
