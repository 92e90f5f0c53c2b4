#!/usr/bin/env bash
# Everything a GPU machine must measure about Kiln's CUDA backend, in one call under a global
# deadline, with prebuilt binaries (scripts/build-gpu-bin.sh; the GPU machine has no Rust):
#   a. env        GPU, driver, CUDA 13's NVRTC/cuBLAS (PyTorch's site-packages/nvidia/cu13/lib)
#   b. pytorch    bench/pytorch_reference.py --configs all (f32, defaults, tf32, bf16, bf16_cl_fused)
#   c. bench      kiln bench --precision f32 and tf32, alternating with PyTorch f32/defaults, rounds
#   d. tests      every cuda_* test binary with --ignored (the GPU tests)
#   e. search     the walkthrough's grid search on the carried CIFAR-10 JPEG tree, timed
#   f. sanitizer  compute-sanitizer memcheck on a few GPU tests, if time is left
# and a summary table, printed last and saved as summary.md.
#
#   bash scripts/gpu-check.sh [BIN_DIR]           (repository root; BIN_DIR default gpu-bin)
#   bash scripts/gpu-check.sh --check [BIN_DIR]   the same control flow on a CPU-only machine:
#                                                 --device cpu, tiny sizes, no sanitizer
#
# Logs, small text files, go straight into $OUT (the device tool brings them back), else into
# ./gpu-check-logs; summary.md is rewritten after every stage, so a run cut short still says
# what it got. Each stage has a cap and keeps time for the stages after it; a stage without
# its inputs or its time is skipped with a note. Exit 0 only when everything that ran passed.
#
# Environment: GPU_CHECK_DEADLINE (seconds, default 540), GPU_CHECK_ONLY (comma-separated
# stage names to run, env always runs), GPU_CHECK_ROUNDS (3), GPU_CHECK_TEST_TIMEOUT (90 per
# binary), GPU_CHECK_WORKERS (12 loader threads for the search), PYTHON (an interpreter with
# PyTorch; default the first of python3/python that imports torch).
set -uo pipefail

usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
check=0
BIN="gpu-bin"
while [ $# -gt 0 ]; do
  case "$1" in
    --check) check=1 ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "unknown option $1" >&2; usage >&2; exit 2 ;;
    *) BIN="$1" ;;
  esac
  shift
done
cd "$(dirname "$0")/.." || exit 2
HERE="$(pwd)"
DEADLINE="${GPU_CHECK_DEADLINE:-540}"
RESERVE=15 # seconds kept for the summary and timeout's kill grace (2 s a stage)
ROUNDS="${GPU_CHECK_ROUNDS:-3}"
ONLY="${GPU_CHECK_ONLY:-}"
if [ -n "${OUT:-}" ]; then LOGS="$OUT"; else LOGS="$HERE/gpu-check-logs"; rm -rf "$LOGS"; fi
mkdir -p "$LOGS"
LOGS="$(cd "$LOGS" && pwd)"
: >"$LOGS/stages.tsv"
: >"$LOGS/facts.tsv"
export PYTHONUNBUFFERED=1
DEV=cuda
[ "$check" = 1 ] && DEV=cpu
start=$SECONDS
status=0
WORK="$(mktemp -d /tmp/kiln-gpu-check.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

# ---------------------------------------------------------------- helpers
fact() { printf '%s\t%s\n' "$1" "$2" >>"$LOGS/facts.tsv"; }
elapsed() { echo $((SECONDS - start)); }
summary_py() { "${SUMMARY_PY:-python3}" "$HERE/scripts/gpu_check_summary.py" "$LOGS" "$@"; }
write_summary() { summary_py >/dev/null 2>&1 || true; }
# record STAGE RESULT NOTE: one line of stages.tsv; FAIL makes the exit status 1
record() {
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$(($(elapsed) - stage_t0))" "${3:-}" >>"$LOGS/stages.tsv"
  [ "$2" = FAIL ] && status=1
  fact elapsed "$(elapsed)"
  printf -- '-- %s: %s%s\n' "$1" "$2" "${3:+ ($3)}"
  write_summary
}
wanted() { [ -z "$ONLY" ] || [[ ",$ONLY," == *",$1,"* ]]; }
# skip STAGE RESULT NOTE: a stage that does not start (RESULT skipped, or FAIL for a missing input)
skip() { stage_t0=$(elapsed); record "$@"; }
# begin STAGE TITLE CAP MIN LATER: the stage may use min(CAP, time left - RESERVE - LATER),
# LATER being what the stages after it are guaranteed; below MIN it is skipped.
begin() {
  local name="$1" title="$2" cap="$3" min="$4" later="$5" avail
  stage_t0=$(elapsed)
  avail=$((DEADLINE - $(elapsed) - RESERVE - later))
  [ "$avail" -lt "$cap" ] && cap=$avail
  if [ "$cap" -lt "$min" ]; then
    record "$name" skipped "only ${cap}s of its time left, needs ${min}s"
    return 1
  fi
  stage_end=$((SECONDS + cap))
  printf '\n== %s: %s (t=%ss, cap %ss)\n' "$name" "$title" "$(elapsed)" "$cap"
}
# budget WANT: seconds a step may use: WANT, or what is left of the stage
budget() {
  local b=$((stage_end - SECONDS))
  [ "$b" -gt "$1" ] && b=$1
  echo "$b"
}
# run_for SECS LOG CMD...: CMD's output appended to LOG, killed after SECS (exit 124)
run_for() {
  local secs="$1" log="$2"
  shift 2
  if [ "$secs" -lt 3 ]; then
    echo "no time left for: $*" >>"$log"
    return 124
  fi
  timeout -k 2 "$secs" "$@" >>"$log" 2>&1
}
# shrink LOG: keep the head and tail of a log over 256 KB
shrink() {
  local f="$1"
  [ -f "$f" ] && [ "$(wc -c <"$f")" -gt 262144 ] || return 0
  { head -c 131072 "$f"; printf '\n[... %s bytes cut ...]\n' "$(wc -c <"$f")"; tail -c 131072 "$f"; } >"$f.cut"
  mv "$f.cut" "$f"
}
# count_results LOG -> "passed failed" over every "test result:" line
count_results() {
  awk '/^test result:/ { for (i = 2; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1) } }
       END { print p + 0, f + 0 }' "$1"
}
json_ok() { grep -q '"train_images_per_sec"' "$1" 2>/dev/null; }

[ "$check" = 1 ] && echo "CHECK MODE: --device cpu and tiny sizes; nothing here measures a GPU"
fact mode "$([ "$check" = 1 ] && echo check || echo gpu)"
fact deadline "$DEADLINE"
[ -d "$BIN" ] && BIN="$(cd "$BIN" && pwd)"
KILN="$BIN/kiln"

# ---------------------------------------------------------------- a. environment
have_gpu=0
stage_t0=0
stage_end=$((SECONDS + 30))
printf '== env: GPU, driver, CUDA 13 libraries (t=0s)\n'
{
  echo "## nvidia-smi"; timeout 10 nvidia-smi 2>&1
  echo "## compute-sanitizer"; timeout 10 compute-sanitizer --version 2>&1
  echo "## ncu"; timeout 10 ncu --version 2>&1
  echo "## binaries in $BIN"; ls -l "$BIN" 2>&1
} >"$LOGS/env.log" 2>&1
gpu="$(timeout 10 nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | head -1)"
driver="$(timeout 10 nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -1)"
[ -n "$gpu" ] && have_gpu=1
echo "GPU: ${gpu:-none found (nvidia-smi missing or failing)}; driver ${driver:--}"
fact gpu "${gpu:-no GPU}"
fact driver "${driver:--}"
PY=""
torch_info="not found"
for p in ${PYTHON:-} python3 python; do
  command -v "$p" >/dev/null 2>&1 || continue
  if info="$(timeout 40 "$p" -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda, "available" if torch.cuda.is_available() else "unavailable")' 2>/dev/null)"; then
    PY="$p"; torch_info="$(echo "$info" | tail -1)"; break
  fi
done
echo "PyTorch ($PY): $torch_info"
fact torch "$torch_info"
command -v python3 >/dev/null 2>&1 || SUMMARY_PY="${PY:-python3}"
find_cu13() {
  timeout 30 "${PY:-python3}" - <<'PY' 2>/dev/null
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
if [ -z "$libdir" ] && [ "$have_gpu" = 1 ]; then
  libdir="$(timeout 20 find / -xdev -name 'libnvrtc.so.13' -path '*cu13*' 2>/dev/null | head -1 | xargs -r dirname)"
fi
if [ -n "$libdir" ]; then
  export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  echo "CUDA 13 libraries: $libdir ($(cd "$libdir" && echo libnvrtc* libcublas*))"
fi
fact cuda_libs "${libdir:-not found}"
for f in "${KILN_PARITY_FIXTURE:-}" ./shared/fixtures/pytorch-parity ../shared/fixtures/pytorch-parity "$BIN/fixtures/pytorch-parity"; do
  if [ -n "$f" ] && [ -f "$f/meta.json" ]; then
    KILN_PARITY_FIXTURE="$(cd "$f" && pwd)"
    export KILN_PARITY_FIXTURE
    break
  fi
done
echo "parity fixture: ${KILN_PARITY_FIXTURE:-absent (the parity tests will print SKIPPED)}"
sanitizer="$(command -v compute-sanitizer)"
for s in /usr/local/cuda*/bin/compute-sanitizer /opt/nvidia/*/bin/compute-sanitizer; do
  [ -z "$sanitizer" ] && [ -x "$s" ] && sanitizer="$s"
done
echo "compute-sanitizer: ${sanitizer:-not found}"
missing=""
[ -x "$KILN" ] || missing="no $KILN (build it with scripts/build-gpu-bin.sh and carry it); "
echo "binaries: ${missing:-$KILN and $(find "$BIN" -maxdepth 1 -name 'cuda_*' -type f | wc -l) cuda_* test binaries}"
notes="$missing${gpu:-no GPU}; libs ${libdir:-not found}; PyTorch ${torch_info}"
if [ "$check" = 1 ]; then
  record env pass "check mode: $notes"
elif [ "$have_gpu" = 0 ] || [ -z "$libdir" ] || [ -n "$missing" ]; then
  record env FAIL "$notes"
else
  record env pass "$notes"
fi
# what the GPU stages need: a GPU and its libraries, or check mode
gpu_ready() { [ "$check" = 1 ] || { [ "$have_gpu" = 1 ] && [ -n "$libdir" ]; }; }

# ---------------------------------------------------------------- b. PyTorch, all configs
if ! wanted pytorch; then
  skip pytorch skipped "not in GPU_CHECK_ONLY"
elif ! gpu_ready; then
  skip pytorch skipped "no GPU or no CUDA 13 libraries"
elif [ -z "$PY" ]; then
  skip pytorch skipped "no Python with PyTorch"
elif begin pytorch "bench/pytorch_reference.py --configs all" 90 20 270; then
  log="$LOGS/pytorch-configs.jsonl"
  if [ "$check" = 1 ]; then
    run_for "$(budget 90)" "$log" "$PY" bench/pytorch_reference.py --dry-run --configs all; rc=$?
  else
    run_for "$(budget 90)" "$log" "$PY" bench/pytorch_reference.py --device cuda --configs all \
      --batch-size 512 --steps 30 --warmup 5 --repeats 3; rc=$?
  fi
  got=$(grep -c '"train_images_per_sec"' "$log")
  grep -E '"(error|skipped)"' "$log" | cut -c1-300
  if [ "$rc" -eq 0 ] && [ "$got" -ge 1 ]; then
    record pytorch pass "$got configurations measured"
  else
    tail -5 "$log"
    record pytorch FAIL "exit $rc, $got configurations measured"
  fi
fi

# ---------------------------------------------------------------- c. Kiln vs PyTorch, rounds
kiln_bench() { # PRECISION ROUND: one kiln bench run, its JSON appended to kiln-PRECISION.jsonl
  local p="$1" r="$2" out="$WORK/kiln-bench.out" extra=() sizes=()
  [ "$r" -gt 1 ] && extra=(--no-profile)
  if [ "$check" = 1 ]; then sizes=(--batch-size 32 --steps 2 --warmup 1); else sizes=(--batch-size 512 --steps 30 --warmup 5); fi
  : >"$out"
  # KILN_PRECISION: the library's own switch, set as well as --precision (both say the same)
  KILN_PRECISION="$p" run_for "$(budget 60)" "$out" \
    "$KILN" --precision "$p" bench --device "$DEV" --c1 48 --c2 96 --l1 256 "${sizes[@]}" --json "${extra[@]}"
  local rc=$?
  grep '^{' "$out" >>"$LOGS/kiln-$p.jsonl"
  { echo "## round $r kiln --precision $p: exit $rc"; grep -v '^{' "$out"; } >>"$LOGS/bench.log"
  if [ "$rc" -eq 0 ] && json_ok "$out"; then
    echo "round $r kiln $p: $(grep -o '"train_images_per_sec":[0-9.]*' "$out" | head -1), $(grep -o '"infer_images_per_sec":[0-9.]*' "$out" | head -1)"
    return 0
  fi
  echo "round $r kiln $p: FAILED (exit $rc)"; tail -3 "$out"
  return 1
}
torch_round() { # ROUND: PyTorch f32 and defaults, appended to pytorch-rounds.jsonl
  local r="$1" out="$WORK/torch-round.out" sizes=()
  if [ "$check" = 1 ]; then sizes=(--device cpu --batch-size 32 --steps 2 --warmup 1 --repeats 1); else sizes=(--device cuda --batch-size 512 --steps 30 --warmup 5 --repeats 3); fi
  : >"$out"
  run_for "$(budget 60)" "$out" "$PY" bench/pytorch_reference.py --configs f32,defaults "${sizes[@]}"
  local rc=$?
  grep '^{' "$out" >>"$LOGS/pytorch-rounds.jsonl"
  { echo "## round $r pytorch f32,defaults: exit $rc"; grep -v '^{' "$out"; } >>"$LOGS/bench.log"
  echo "round $r pytorch: exit $rc, $(grep -c '"train_images_per_sec"' "$out") configurations measured"
  [ "$rc" -eq 0 ] && json_ok "$out"
}
if ! wanted bench; then
  skip bench skipped "not in GPU_CHECK_ONLY"
elif ! gpu_ready; then
  skip bench skipped "no GPU or no CUDA 13 libraries"
elif [ ! -x "$KILN" ]; then
  skip bench skipped "no $KILN (scripts/build-gpu-bin.sh builds it)"
elif begin bench "kiln bench f32/tf32 alternating with PyTorch f32/defaults, $ROUNDS rounds" 140 30 210; then
  ok=0; bad=0; missed=0
  for r in $(seq 1 "$ROUNDS"); do
    # the order turns each round, so drift (clocks, heat) spreads over all three
    case $((r % 3)) in
      1) order="kf32 torch ktf32" ;;
      2) order="ktf32 kf32 torch" ;;
      0) order="torch ktf32 kf32" ;;
    esac
    for what in $order; do
      if [ "$(budget 60)" -lt 10 ]; then missed=$((missed + 1)); continue; fi
      case "$what" in
        kf32) kiln_bench f32 "$r" ;;
        ktf32) kiln_bench tf32 "$r" ;;
        torch) if [ -n "$PY" ]; then torch_round "$r"; else missed=$((missed + 1)); continue; fi ;;
      esac && ok=$((ok + 1)) || bad=$((bad + 1))
    done
  done
  note="$ok runs passed, $bad failed, $missed skipped for time or PyTorch"
  if [ "$bad" -gt 0 ]; then record bench FAIL "$note"
  elif [ "$missed" -gt 0 ]; then record bench partial "$note"
  else record bench pass "$note"; fi
fi

# ---------------------------------------------------------------- d. GPU tests
: >"$LOGS/tests.tsv"
bins=()
if [ -d "$BIN" ]; then
  for t in "$BIN"/cuda_*; do
    [ -f "$t" ] && [ -x "$t" ] && [[ "$t" != *_emulated* ]] && bins+=("$t")
  done
fi
if ! wanted tests; then
  skip tests skipped "not in GPU_CHECK_ONLY"
elif ! gpu_ready; then
  skip tests skipped "no GPU or no CUDA 13 libraries"
elif [ "${#bins[@]}" -eq 0 ]; then
  skip tests skipped "no cuda_* test binaries in $BIN"
elif begin tests "${#bins[@]} GPU test binaries, --ignored" 150 20 150; then
  tp=0; tf=0; cut_short=0; unrun=0
  left_bins=${#bins[@]}
  # a failing proptest shrinks for as long as it likes: 10 s of that is enough to read
  export PROPTEST_MAX_SHRINK_TIME="${PROPTEST_MAX_SHRINK_TIME:-10000}"
  # the failing case is in the log; no regression file beside the (absent) sources
  export PROPTEST_DISABLE_FAILURE_PERSISTENCE=1
  for t in "${bins[@]}"; do
    name="$(basename "$t")"
    log="$LOGS/test-$name.log"
    listed=$("$t" --list --ignored 2>/dev/null | grep -c ': test$')
    left_bins=$((left_bins - 1))
    # each binary may take GPU_CHECK_TEST_TIMEOUT, but leaves 15 s to every one after it
    cap=$(budget "${GPU_CHECK_TEST_TIMEOUT:-90}")
    [ $((stage_end - SECONDS - 15 * left_bins)) -lt "$cap" ] && cap=$((stage_end - SECONDS - 15 * left_bins))
    t1=$SECONDS
    note=""
    if [ "$cap" -lt 10 ]; then
      printf '%s\t%s\t0\t0\t%s\t-\t0\t%s\n' "$name" "not run" "$listed" "the stage's time was used up" >>"$LOGS/tests.tsv"
      echo "$name: not run, the stage's time was used up"
      unrun=$((unrun + 1))
      continue
    fi
    if [ "$listed" -eq 0 ]; then
      # no #[ignore]d tests (cuda_setup): its tests check this machine's driver and NVRTC
      mode=all
      listed=$("$t" --list 2>/dev/null | grep -c ': test$')
      run_for "$cap" "$log" "$t" --test-threads=1; rc=$?
    elif [ "$check" = 1 ]; then
      mode=ignored
      echo "check mode: $listed ignored tests listed, not run" >"$log"
      printf '%s\t%s\t0\t0\t%s\t-\t0\t%s\n' "$name" "$mode" "$listed" "check mode: listed only" >>"$LOGS/tests.tsv"
      echo "$name: $listed GPU tests listed (check mode: not run)"
      continue
    else
      mode=ignored
      run_for "$cap" "$log" "$t" --ignored --test-threads=1 --nocapture; rc=$?
    fi
    read -r p f < <(count_results "$log")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
      f=1
      if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then note="timed out after ${cap}s"; cut_short=1; else note="exit $rc outside a test"; fi
    fi
    s=$(grep -c '^SKIPPED' "$log")
    [ "$s" -gt 0 ] && note="${note:+$note; }$s SKIPPED lines"
    if [ "$f" -gt 0 ]; then
      grep -E '^test .* FAILED|^---- ' "$log" | head -12
      grep -E -A2 'panicked at' "$log" | grep -vE 'panicked at|^--$|stack backtrace' | sort -u | head -6 | cut -c1-300
    fi
    shrink "$log"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$mode" "$p" "$f" "$listed" "$rc" "$((SECONDS - t1))" "$note" >>"$LOGS/tests.tsv"
    echo "$name ($mode): $p passed, $f failed${note:+ ($note)}"
    tp=$((tp + p)); tf=$((tf + f))
    write_summary
  done
  note="$tp passed, $tf failed$([ "$cut_short" = 1 ] && echo ', a binary timed out')$([ "$unrun" -gt 0 ] && echo ", $unrun binaries not run for time")"
  if [ "$tf" -gt 0 ]; then record tests FAIL "$note"
  elif [ "$unrun" -gt 0 ]; then record tests partial "$note"
  else record tests pass "$note"; fi
fi

# ---------------------------------------------------------------- e. grid search
jpegs="$BIN/cifar10-jpg.tar.gz"
: >"$LOGS/search.tsv"
if ! wanted search; then
  skip search skipped "not in GPU_CHECK_ONLY"
elif ! gpu_ready; then
  skip search skipped "no GPU or no CUDA 13 libraries"
elif [ ! -f "$jpegs" ] || [ ! -x "$KILN" ]; then
  skip search skipped "no $jpegs or no $KILN"
elif begin search "kiln search on the CIFAR-10 JPEG tree (8 trials, 10 epochs)" 240 60 0; then
  tree="$WORK/cifar10-jpg"
  runs="$WORK/runs"
  mkdir -p "$tree"
  if ! timeout "$(budget 60)" tar xzf "$jpegs" -C "$tree"; then
    record search FAIL "could not unpack $jpegs"
  else
    prec="${GPU_CHECK_SEARCH_PRECISION:-tf32}"

    # 48/96/256 first, so it finishes even if the cap cuts the grid short (same 8 trials)
    grid=(--c1 "48,32" --c2 "96,64" --l1 "256,128")
    if [ "$check" = 1 ]; then
      sizes=(--batch-size 64 --lr 0.001 --epochs 1 --train-size 256 --test-size 128)
    else
      sizes=(--batch-size 512 --lr 0.001 --epochs 10)
    fi
    log="$LOGS/search.log"
    t1="$(date +%s.%N)"
    KILN_PRECISION="$prec" run_for "$(budget 240)" "$log" "$KILN" --precision "$prec" search \
      --device "$DEV" --data "$tree" "${grid[@]}" "${sizes[@]}" --augment --early-stop 3 \
      --workers "${GPU_CHECK_WORKERS:-12}" --out "$runs" --name search; rc=$?
    secs="$(awk -v a="$t1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')"
    shrink "$log"
    dir="$runs/search"
    [ -f "$dir/report.csv" ] && cp "$dir/report.csv" "$LOGS/search-report.csv"
    trial="$(find "$dir/trials" -maxdepth 1 -name 'c1-48_c2-96_l1-256_*' 2>/dev/null | head -1)"
    [ -n "$trial" ] && [ -f "$trial/history.csv" ] && cp "$trial/history.csv" "$LOGS/search-48-96-256-history.csv"
    trials=$(find "$dir/trials" -mindepth 2 -maxdepth 2 -name result.json 2>/dev/null | wc -l)
    { printf 'exit\t%s\n' "$rc"; printf 'seconds\t%s\n' "$secs"; printf 'trials\t%s\n' "$trials"
      printf 'precision\t%s\n' "$prec"; printf 'device\t%s\n' "$DEV"; } >"$LOGS/search.tsv"
    sed -n '/ run  accuracy/,$p' "$log" | head -16
    echo "search: exit $rc, $secs s, $trials trials finished"
    if [ "$rc" -eq 0 ] && [ "$trials" -eq 8 ]; then record search pass "$secs s, 8 trials"
    elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then record search FAIL "cut at its cap after $secs s, $trials trials finished"
    else tail -5 "$log"; record search FAIL "exit $rc after $secs s, $trials trials finished"; fi
  fi
  rm -rf "$tree" "$runs"
fi

# ---------------------------------------------------------------- f. compute-sanitizer
: >"$LOGS/sanitizer.tsv"
if ! wanted sanitizer; then
  skip sanitizer skipped "not in GPU_CHECK_ONLY"
elif [ "$check" = 1 ]; then
  skip sanitizer skipped "check mode"
elif ! gpu_ready; then
  skip sanitizer skipped "no GPU or no CUDA 13 libraries"
elif [ -z "$sanitizer" ]; then
  skip sanitizer skipped "compute-sanitizer not found"
elif begin sanitizer "compute-sanitizer memcheck on deterministic GPU tests" 120 40 0; then
  clean=0; dirty=0; partial=0
  for spec in "cuda_ops:long_rows_use_the_split_sum dropout_masks_match fused_optimizers_match_bit_for_bit" \
    "cuda_nn_ops:convolutions_split_into_chunks_agree wide_batch_norms_and_large_cross_entropy_match an_invalid_label_is_reported_not_used" \
    "cuda_parity:conv_and_pool_ops_match_pytorch confignet_matches_pytorch_on_the_gpu" \
    "cuda_precision:matmuls_follow_the_precision auto_never_mixes_precisions" \
    "cuda_layers:wide_residual_blocks_match model_files_match_pytorch_on_the_gpu"; do
    bin="${spec%%:*}"
    read -r -a filters <<<"${spec#*:}"
    t="$BIN/$bin"
    [ -x "$t" ] || continue
    n=$("$t" --list --ignored "${filters[@]}" 2>/dev/null | grep -c ': test$')
    [ "$n" -gt 0 ] || continue
    secs=$(budget 60)
    if [ "$secs" -lt 15 ]; then partial=1; break; fi
    log="$LOGS/sanitizer-$bin.log"
    t1=$SECONDS
    run_for "$secs" "$log" "$sanitizer" --tool memcheck --leak-check no --error-exitcode 99 \
      "$t" --ignored --test-threads=1 "${filters[@]}"; rc=$?
    errs=$(grep -cE 'Invalid (__global__|__shared__|__local__)? ?(read|write)|Address .* is (out of bounds|misaligned)|Program hit .* error' "$log")
    read -r p f < <(count_results "$log")
    if [ "$rc" -eq 99 ] || [ "$errs" -gt 0 ]; then
      result="MEMORY ERRORS"; dirty=$((dirty + 1)); grep -E '^=========' "$log" | head -20
    elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
      result="incomplete (cut at ${secs}s)"; partial=1
    elif [ "$rc" -ne 0 ]; then
      result="FAILED (exit $rc, $f tests failed)"; dirty=$((dirty + 1)); tail -5 "$log"
    else
      result="clean, $p passed"; clean=$((clean + 1))
    fi
    shrink "$log"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$bin" "$n" "$result" "$errs" "$rc" "$((SECONDS - t1))" >>"$LOGS/sanitizer.tsv"
    echo "$bin: $result ($errs memory errors)"
  done
  note="$clean binaries clean, $dirty with errors"
  if [ "$dirty" -gt 0 ]; then record sanitizer FAIL "$note"
  elif [ "$partial" = 1 ] || [ "$clean" -eq 0 ]; then record sanitizer partial "$note; time ran out or no test matched"
  else record sanitizer pass "$note"; fi
fi

# ---------------------------------------------------------------- summary
fact elapsed "$(elapsed)"
echo
if ! summary_py --print; then
  echo "(no python3 for the summary table; the stages:)"
  cat "$LOGS/stages.tsv"
fi
echo "logs: $LOGS; exit $status"
exit $status
