#!/usr/bin/env bash
# Everything a GPU machine must prove about Kiln's CUDA backend, in one call of under ten
# minutes, with prebuilt binaries (see scripts/build-gpu-bin.sh; the GPU machine has no Rust):
#   1. finds CUDA 13's libnvrtc/libcublas (PyTorch's site-packages/nvidia/cu13/lib) and puts
#      them on LD_LIBRARY_PATH;
#   2. runs every test binary of BIN_DIR: the GPU tests (--ignored) and the others;
#   3. runs a few deterministic GPU tests under compute-sanitizer memcheck (when present);
#   4. benchmarks `kiln bench --device cuda` against bench/pytorch_reference.py;
#   5. prints a closing table: images/s of both, their ratio, and the GPU tests' pass/fail.
#
#   bash scripts/gpu-check.sh [BIN_DIR]        (from the repository root; BIN_DIR = gpu-bin)
#
# Logs go to ./gpu-check-logs, and as one archive to $OUT when that is set (the device tool
# brings back only a few files). GPU tests are the ignored tests of the cuda_* binaries. Exit
# status 0 only when every test passed and both benchmarks ran.
set -uo pipefail
BIN="${1:-gpu-bin}"
LOGS="gpu-check-logs"
rm -rf "$LOGS"; mkdir -p "$LOGS"
export PYTHONUNBUFFERED=1
started=$SECONDS
status=0
# every stage starts by saving the logs so far, so a run cut short still brings them back
save_logs() { [ -n "${OUT:-}" ] && tar czf "$OUT/gpu-check-logs.tgz" "$LOGS" 2>/dev/null; true; }
say() { save_logs; printf '\n== %s (t=%ss)\n' "$*" "$((SECONDS - started))"; }

if [ ! -d "$BIN" ]; then
  echo "no binary folder $BIN: build it with scripts/build-gpu-bin.sh and carry it" >&2
  exit 2
fi

say "GPU"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -4

say "CUDA 13 libraries"
find_cu13() {
  python3 - <<'PY' 2>/dev/null
import glob, os, site, sys
cands = []
try:
    import nvidia
    for p in list(getattr(nvidia, "__path__", [])):
        cands.append(os.path.join(p, "cu13", "lib"))
except Exception:
    pass
try:
    import torch
    cands.append(os.path.join(os.path.dirname(torch.__file__), "..", "nvidia", "cu13", "lib"))
    cands.append(os.path.join(os.path.dirname(torch.__file__), "lib"))
except Exception:
    pass
roots = []
try:
    roots += site.getsitepackages()
except Exception:
    pass
try:
    roots.append(site.getusersitepackages())
except Exception:
    pass
roots += [p for p in sys.path if p]
for r in roots:
    cands.append(os.path.join(r, "nvidia", "cu13", "lib"))
seen = set()
for c in cands:
    c = os.path.realpath(c)
    if c in seen:
        continue
    seen.add(c)
    if glob.glob(os.path.join(c, "libnvrtc.so.13*")) and glob.glob(os.path.join(c, "libcublas.so.13*")):
        print(c)
        break
PY
}
libdir="$(find_cu13)"
if [ -z "$libdir" ]; then
  for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/lib/x86_64-linux-gnu; do
    if ls "$d"/libnvrtc.so.13* >/dev/null 2>&1 && ls "$d"/libcublas.so.13* >/dev/null 2>&1; then
      libdir="$d"; break
    fi
  done
fi
if [ -z "$libdir" ]; then
  libdir="$(find / -xdev -name 'libnvrtc.so.13' -path '*cu13*' 2>/dev/null | head -1 | xargs -r dirname)"
fi
if [ -n "$libdir" ]; then
  echo "using $libdir"
  export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  ls "$libdir" | grep -E 'nvrtc|cublas' | tr '\n' ' '; echo
else
  echo "WARNING: no folder with libnvrtc.so.13 and libcublas.so.13 found; the CUDA tests will fail"
  status=1
fi

for f in "" ./shared/fixtures/pytorch-parity ../shared/fixtures/pytorch-parity "$BIN/fixtures/pytorch-parity"; do
  if [ -z "$f" ]; then f="${KILN_PARITY_FIXTURE:-}"; fi
  if [ -n "$f" ] && [ -f "$f/meta.json" ]; then
    export KILN_PARITY_FIXTURE="$(cd "$f" && pwd)"
    break
  fi
done
echo "parity fixture: ${KILN_PARITY_FIXTURE:-ABSENT (the PyTorch parity tests will print SKIPPED)}"

# ---------------------------------------------------------------- tests
gpu_pass=0; gpu_fail=0; cpu_pass=0; cpu_fail=0; skipped=0
tests=()
for t in "$BIN"/*; do
  [ -f "$t" ] && [ -x "$t" ] && [ "$(basename "$t")" != kiln ] && tests+=("$t")
done
count_results() { # log -> "passed failed"
  awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed/) p += $(i-1); if ($(i) ~ /^failed/) f += $(i-1) } }
       END { print p + 0, f + 0 }' "$1"
}
for t in "${tests[@]}"; do
  name="$(basename "$t")"
  for mode in ignored normal; do
    log="$LOGS/$name.$mode.log"
    if [ "$mode" = ignored ]; then
      say "GPU tests: $name"
      timeout "${KILN_GPU_TEST_TIMEOUT:-120}" "$t" --ignored --test-threads=1 >"$log" 2>&1; rc=$?
    else
      [ "${KILN_GPU_CHECK_CPU_TESTS:-1}" = 1 ] || continue
      say "other tests: $name"
      timeout 60 "$t" --test-threads=4 >"$log" 2>&1; rc=$?
    fi
    read -r p f < <(count_results "$log")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "exit status $rc (timeout, crash or panic outside a test)"; fi
    s=$(grep -c '^SKIPPED' "$log")
    skipped=$((skipped + s))
    echo "$p passed, $f failed$( [ "$s" -gt 0 ] && echo ", $s SKIPPED lines")"
    if [ "$f" -gt 0 ]; then
      grep -E "^test .* FAILED" "$log" | head -12
      grep -E -A1 "panicked at" "$log" | grep -vE "panicked at|^--$|stack backtrace" | sort -u | head -6 | cut -c1-400
      status=1
    fi
    if [ "$mode" = ignored ] && [[ "$name" == cuda_* ]]; then
      gpu_pass=$((gpu_pass + p)); gpu_fail=$((gpu_fail + f))
    else
      cpu_pass=$((cpu_pass + p)); cpu_fail=$((cpu_fail + f))
    fi
  done
done

# ---------------------------------------------------------------- compute-sanitizer
sanitizer="$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)"
san_result="not run"
if [ -n "$sanitizer" ] && [ "${KILN_GPU_CHECK_SANITIZE:-1}" = 1 ]; then
  say "compute-sanitizer memcheck on deterministic GPU tests"
  san_result="clean"
  for spec in "cuda_nn_ops:convolutions_split_into_chunks_agree wide_convolutions_match_with_every_engine wide_batch_norms_and_large_cross_entropy_match an_invalid_label_is_reported_not_used" \
              "cuda_ops:long_rows_use_the_split_sum dropout_masks_match fused_optimizers_match_bit_for_bit" \
              "cuda_parity:conv_and_pool_ops_match_pytorch confignet_matches_pytorch_on_the_gpu" \
              "cuda_layers:wide_residual_blocks_match model_files_match_pytorch_on_the_gpu"; do
    bin="${spec%%:*}"; filters="${spec#*:}"
    t="$(ls "$BIN"/"$bin" "$BIN"/"$bin"-* 2>/dev/null | head -1)"
    [ -n "$t" ] || continue
    log="$LOGS/sanitizer.$bin.log"
    # shellcheck disable=SC2086
    timeout "${KILN_GPU_CHECK_SANITIZE_TIMEOUT:-90}" "$sanitizer" --tool memcheck --leak-check no --error-exitcode 99 \
      "$t" --ignored --test-threads=1 $filters >"$log" 2>&1; rc=$?
    errs=$(grep -cE "Invalid (__global__|__shared__)? ?(read|write)|Address .* is out of bounds" "$log")
    echo "$bin: exit $rc, $errs memory errors reported"
    if [ "$rc" -eq 99 ] || [ "$errs" -gt 0 ]; then
      san_result="ERRORS (see $log)"; status=1
      grep -E "=========" "$log" | head -20
    elif [ "$rc" -ne 0 ]; then
      [ "$san_result" = clean ] && san_result="incomplete (exit $rc in $bin)"
      tail -3 "$log"
    fi
  done
fi

# ---------------------------------------------------------------- benchmarks
json_field() { # file key
  python3 - "$1" "$2" <<'PY' 2>/dev/null
import json, sys
text = open(sys.argv[1]).read()
obj = None
for line in reversed(text.splitlines()):
    line = line.strip()
    if line.startswith("{"):
        try:
            obj = json.loads(line)
            break
        except ValueError:
            pass
if obj is None:
    try:
        start = text.index("{")
        obj = json.loads(text[start:text.rindex("}") + 1])
    except ValueError:
        obj = {}
v = obj.get(sys.argv[2])
print("" if v is None else v)
PY
}
kiln_train=""; kiln_infer=""
if [ -x "$BIN/kiln" ]; then
  say "kiln bench --device cuda"
  timeout 240 "$BIN/kiln" bench --device cuda --c1 48 --c2 96 --l1 256 --batch-size 512 --steps 30 --json \
    >"$LOGS/kiln-bench.log" 2>&1; rc=$?
  tail -4 "$LOGS/kiln-bench.log"
  kiln_train="$(json_field "$LOGS/kiln-bench.log" train_images_per_sec)"
  kiln_infer="$(json_field "$LOGS/kiln-bench.log" infer_images_per_sec)"
  [ "$rc" -eq 0 ] && [ -n "$kiln_train" ] || { echo "kiln bench failed (exit $rc)"; status=1; }
  if [ "${KILN_GPU_CHECK_PROFILE:-1}" = 1 ]; then
    say "kiln bench --device cuda with KILN_CUDA_PROFILE=1 (per-kernel GPU time, 5 steps)"
    KILN_CUDA_PROFILE=1 timeout 120 "$BIN/kiln" bench --device cuda --c1 48 --c2 96 --l1 256 \
      --batch-size 512 --steps 5 --warmup 2 --no-profile >"$LOGS/kiln-kernel-profile.log" 2>&1
    sed -n '/CUDA kernel profile/,$p' "$LOGS/kiln-kernel-profile.log" | head -40
  fi
  # each convolution engine forced (the run above lets Auto pick per layer and pass)
  for engine in ${KILN_GPU_CHECK_ENGINES:-gemm implicit implicit-narrow}; do
    say "kiln bench --device cuda with KILN_CUDA_CONV=$engine"
    wide=1; [ "$engine" = implicit-narrow ] && wide=0
    KILN_CUDA_CONV=${engine%-narrow} KILN_CUDA_CONV_WIDE=$wide timeout 120 "$BIN/kiln" bench --device cuda --c1 48 --c2 96 --l1 256 \
      --batch-size 512 --steps 30 --json >"$LOGS/kiln-bench-$engine.log" 2>&1
    echo "train $(json_field "$LOGS/kiln-bench-$engine.log" train_images_per_sec) img/s, infer $(json_field "$LOGS/kiln-bench-$engine.log" infer_images_per_sec) img/s"
  done
else
  echo "no $BIN/kiln: skipping the Kiln benchmark"; status=1
fi

say "PyTorch reference (full f32, as Kiln by default)"
timeout 200 python3 bench/pytorch_reference.py --device cuda --batch-size 512 --steps 30 --json \
  >"$LOGS/pytorch-bench.log" 2>&1; rc=$?
tail -2 "$LOGS/pytorch-bench.log"
torch_train="$(json_field "$LOGS/pytorch-bench.log" train_images_per_sec)"
torch_infer="$(json_field "$LOGS/pytorch-bench.log" infer_images_per_sec)"
[ "$rc" -eq 0 ] && [ -n "$torch_train" ] || { echo "PyTorch benchmark failed (exit $rc)"; status=1; }

say "PyTorch reference (PyTorch's defaults: TF32 convolutions)"
timeout 120 python3 bench/pytorch_reference.py --device cuda --batch-size 512 --steps 30 --tf32 default --json \
  >"$LOGS/pytorch-bench-default.log" 2>&1
tail -1 "$LOGS/pytorch-bench-default.log"
torchd_train="$(json_field "$LOGS/pytorch-bench-default.log" train_images_per_sec)"
torchd_infer="$(json_field "$LOGS/pytorch-bench-default.log" infer_images_per_sec)"

# ---------------------------------------------------------------- real data
# The CIFAR-10 JPEG tree (shared/data/cifar10-jpg.tar.gz, copied into BIN by build-gpu-bin.sh):
# the walkthrough's grid configuration trained on the GPU, test accuracy after every epoch.
train_result="not run (no $BIN/cifar10-jpg.tar.gz)"
if [ -f "$BIN/cifar10-jpg.tar.gz" ] && [ -x "$BIN/kiln" ]; then
  epochs="${KILN_GPU_CHECK_EPOCHS:-10}"
  say "kiln train --device cuda on real CIFAR-10 ($epochs epochs, augmented, batch 512)"
  data="$(mktemp -d)"
  tar xzf "$BIN/cifar10-jpg.tar.gz" -C "$data"
  timeout "${KILN_GPU_CHECK_TRAIN_TIMEOUT:-150}" "$BIN/kiln" train --device cuda --data "$data" \
    --epochs "$epochs" --augment --batch-size 512 --workers 12 --out "$LOGS/runs" --name cifar \
    >"$LOGS/kiln-train.log" 2>&1; rc=$?
  grep -vE '\[[#>-]+\]|it/s|img/s.*ETA' "$LOGS/kiln-train.log" | tail -25
  train_result="exit $rc, $(grep -c . "$LOGS/runs/cifar/history.csv" 2>/dev/null || echo 0) history lines"
  [ "$rc" -eq 0 ] || status=1
  # the walkthrough's fine-tune of the best weights: lr 8e-4, up to N epochs, tolerance 6
  ft="${KILN_GPU_CHECK_FINETUNE_EPOCHS:-0}"
  if [ "$rc" -eq 0 ] && [ "$ft" -gt 0 ]; then
    say "kiln train --device cuda: fine-tune of the best weights (lr 8e-4, $ft epochs, early stop 6)"
    timeout "${KILN_GPU_CHECK_FINETUNE_TIMEOUT:-240}" "$BIN/kiln" train --device cuda --data "$data" \
      --from "$LOGS/runs/cifar/best.safetensors" --lr 8e-4 --epochs "$ft" --early-stop 6 --augment \
      --batch-size 512 --workers 12 --out "$LOGS/runs" --name finetune \
      >"$LOGS/kiln-finetune.log" 2>&1; rc=$?
    grep -vE '\[[#>-]+\]|it/s|img/s.*ETA' "$LOGS/kiln-finetune.log" | tail -"$((ft + 8))"
    train_result="$train_result; fine-tune exit $rc"
    [ "$rc" -eq 0 ] || status=1
  fi
  # the walkthrough's grid search (batch 512, lr 1e-3, augmentation, 10 epochs, early stop 3),
  # then evaluation, sample predictions and a prediction from a JPEG file with its best weights
  if [ "${KILN_GPU_CHECK_SEARCH:-0}" = 1 ]; then
    say "kiln search --device cuda: c1 32,48 x c2 64,96 x l1 128,256 on real CIFAR-10"
    timeout "${KILN_GPU_CHECK_SEARCH_TIMEOUT:-240}" "$BIN/kiln" search --device cuda --data "$data" \
      --c1 32,48 --c2 64,96 --l1 128,256 --batch-size 512 --lr 1e-3 --epochs 10 --augment \
      --workers 12 --out "$LOGS/runs" --name search >"$LOGS/kiln-search.log" 2>&1; rc=$?
    sed -n '/ run  accuracy/,$p' "$LOGS/kiln-search.log"
    [ "$rc" -eq 0 ] || { status=1; tail -5 "$LOGS/kiln-search.log"; }
    best="$(python3 - "$LOGS/runs/search/report.json" <<'PY' 2>/dev/null
import json, sys
r = json.load(open(sys.argv[1]))["results"]
print(min(r, key=lambda t: t["test_loss"])["name"])
PY
)"
    weights="$LOGS/runs/search/trials/$best/best.safetensors"
    if [ -n "$best" ] && [ -f "$weights" ]; then
      say "kiln eval / samples / predict --device cuda with $best"
      "$BIN/kiln" eval --device cuda --data "$data" --weights "$weights" --out "$LOGS/runs" \
        >"$LOGS/kiln-eval.log" 2>&1 || status=1
      head -36 "$LOGS/kiln-eval.log"
      "$BIN/kiln" samples --device cuda --data "$data" --weights "$weights" --n 16 \
        --out "$LOGS/runs" >"$LOGS/kiln-samples.log" 2>&1 || status=1
      tail -2 "$LOGS/kiln-samples.log"
      "$BIN/kiln" predict --device cuda --weights "$weights" "$data"/test/cat/$(ls "$data/test/cat" | head -1) \
        "$data"/test/ship/$(ls "$data/test/ship" | head -1) 2>&1 | tail -4 || status=1
    fi
    train_result="$train_result; search exit $rc"
  fi
  rm -f "$LOGS"/runs/*/*.safetensors "$LOGS"/runs/search/trials/*/*.safetensors
fi

# ---------------------------------------------------------------- summary
python3 - "$kiln_train" "$kiln_infer" "$torch_train" "$torch_infer" "$torchd_train" "$torchd_infer" <<'PY'
import sys
def num(s):
    try:
        return float(s)
    except ValueError:
        return None
kt, ki, tt, ti, dt, di = (num(a) for a in sys.argv[1:7])
def fmt(v):
    return "-" if v is None else f"{v:,.0f}"
def ratio(a, b):
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}"
print()
print("=" * 78)
print(f"{'ConfigNet(48, 96, 256), batch 512':38} {'train img/s':>12} {'infer img/s':>12}")
print(f"{'Kiln (cuda)':38} {fmt(kt):>12} {fmt(ki):>12}")
print(f"{'PyTorch (f32, cudnn.benchmark)':38} {fmt(tt):>12} {fmt(ti):>12}")
print(f"{'Kiln / PyTorch (f32)':38} {ratio(kt, tt):>12} {ratio(ki, ti):>12}")
print(f"{'PyTorch (defaults: TF32 convs)':38} {fmt(dt):>12} {fmt(di):>12}")
print(f"{'Kiln / PyTorch (defaults)':38} {ratio(kt, dt):>12} {ratio(ki, di):>12}")
PY
echo "GPU tests (cuda_* --ignored): $gpu_pass passed, $gpu_fail failed"
echo "other tests:                  $cpu_pass passed, $cpu_fail failed"
echo "compute-sanitizer:     $san_result"
echo "real-data training:    $train_result"
[ "$skipped" -gt 0 ] && echo "SKIPPED lines in test logs: $skipped (missing fixture?)"
save_logs
echo "total time: $((SECONDS - started)) s; logs in $LOGS"
echo "$((gpu_pass + cpu_pass)) passed, $((gpu_fail + cpu_fail)) failed"
exit $status
