#!/bin/sh
# Runs one fuzz target, built beforehand by `RUSTC_BOOTSTRAP=1 cargo fuzz build` (see
# README.md), on its corpus (new inputs are added to corpus/TARGET) and its seeds, at the
# lowest CPU priority, so several can run beside other builds without a cargo command of
# their own. Usage: fuzz/run.sh TARGET [libFuzzer options...], e.g.
#   fuzz/run.sh image -runs=2500000
#   fuzz/run.sh torch_zip -max_total_time=600
# A crash is written to fuzz/artifacts/TARGET/ and stops the run.
set -eu
cd "$(dirname "$0")"
target=$1
shift
# image: a header may claim 1024 pixels per byte, slow to decode under the sanitizer
timeout=10
case $target in
    safetensors | cifar_binary | cifar_python) max_len=8192 ;;
    checkpoint) max_len=16384 ;;
    torch_zip) max_len=20000 ;;
    image) max_len=4096 timeout=30 ;;
    *) echo "unknown target $target" >&2; exit 2 ;;
esac
mkdir -p "corpus/$target" "seeds/$target" "artifacts/$target"
exec nice -n 19 "target/x86_64-unknown-linux-gnu/release/$target" "corpus/$target" "seeds/$target" \
    -artifact_prefix="artifacts/$target/" -max_len="$max_len" -timeout="$timeout" \
    -rss_limit_mb=2048 -print_final_stats=1 "$@"
