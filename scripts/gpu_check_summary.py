#!/usr/bin/env python3
"""The closing table of scripts/gpu-check.sh, from the files its stages leave in LOGS.

  python3 scripts/gpu_check_summary.py LOGS [--print]

Writes LOGS/summary.md (markdown) and prints it with --print. Reads, each when present:
  stages.tsv             stage, result, seconds, note (one line per stage)
  facts.tsv              key, value (GPU, driver, libraries, mode)
  pytorch-configs.jsonl  bench/pytorch_reference.py --configs all (stage b)
  kiln-f32.jsonl, kiln-tf32.jsonl, pytorch-rounds.jsonl   the alternating rounds (stage c)
  tests.tsv              binary, mode, passed, failed, listed, exit status, seconds, note
  search.tsv             key, value of the grid search; search-report.csv its report.csv;
                         search-48-96-256-history.csv that trial's history.csv
  sanitizer.tsv          binary, tests, result, memory errors, exit status, seconds
Uses only the standard library (no PyTorch needed).
"""

import csv
import json
import os
import statistics
import sys


def rows(path, n):
    """Tab-separated lines of `path`, padded to n fields."""
    if not os.path.exists(path):
        return []
    out = []
    for line in open(path, encoding="utf-8", errors="replace"):
        line = line.rstrip("\n")
        if line:
            f = line.split("\t")
            out.append((f + [""] * n)[:n])
    return out


def json_lines(path):
    if not os.path.exists(path):
        return []
    out = []
    for line in open(path, encoding="utf-8", errors="replace"):
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


def measured(objs):
    return [o for o in objs if isinstance(o.get("train_images_per_sec"), (int, float))]


def median_of(objs, key):
    v = [o[key] for o in objs if isinstance(o.get(key), (int, float))]
    return statistics.median(v) if v else None


def num(v, digits=0):
    return "-" if v is None else f"{v:,.{digits}f}"


def ratio(a, b):
    return "-" if a is None or not b else f"{a / b:.2f}"


def throughput(logs):
    """Rows of the throughput table and the figures the ratios use."""
    per_config = {o["config"]: o for o in measured(json_lines(os.path.join(logs, "pytorch-configs.jsonl")))}
    skipped = {
        o["config"]: o.get("skipped") or o.get("error")
        for o in json_lines(os.path.join(logs, "pytorch-configs.jsonl"))
        if "config" in o and "train_images_per_sec" not in o
    }
    round_objs = json_lines(os.path.join(logs, "pytorch-rounds.jsonl"))
    rounds = measured(round_objs)
    round_skips = {o["config"]: o.get("skipped") or o.get("error") for o in round_objs if "train_images_per_sec" not in o}
    fig = {}
    table = []
    for prec in ("f32", "tf32"):
        runs = measured(json_lines(os.path.join(logs, f"kiln-{prec}.jsonl")))
        fig[f"kiln_{prec}"] = (median_of(runs, "train_images_per_sec"), median_of(runs, "infer_images_per_sec"))
        table.append((f"Kiln --precision {prec}", runs))
    for name in ("f32", "defaults"):
        runs = [o for o in rounds if o.get("config") == name]
        table.append((f"PyTorch {name}, interleaved with Kiln", runs, round_skips.get(name)))
        if runs:
            fig[f"torch_{name}"] = (median_of(runs, "train_images_per_sec"), median_of(runs, "infer_images_per_sec"))
    for name in ("f32", "defaults", "tf32", "bf16", "bf16_cl_fused"):
        o = per_config.get(name)
        table.append((f"PyTorch {name} (all-configs run)", [o] if o else [], skipped.get(name)))
        if o and f"torch_{name}" not in fig:
            fig[f"torch_{name}"] = (o["train_images_per_sec"], o["infer_images_per_sec"])
    return table, fig


def search_part(logs):
    facts = dict((k, v) for k, v in rows(os.path.join(logs, "search.tsv"), 2))
    lines = []
    if not facts:
        return ["not run"]
    lines.append(
        f"- exit {facts.get('exit', '?')}, {facts.get('seconds', '?')} s end to end, "
        f"{facts.get('trials', '?')} of 8 trials finished ({facts.get('precision', '?')}, {facts.get('device', '?')})"
    )
    rep = os.path.join(logs, "search-report.csv")
    target = None
    if os.path.exists(rep):
        results = list(csv.DictReader(open(rep)))
        for r in results:
            if (r.get("c1"), r.get("c2"), r.get("l1")) == ("48", "96", "256"):
                target = r
        finite = [r for r in results if r.get("test_loss") not in (None, "", "NaN", "inf")]
        if finite:
            best = min(finite, key=lambda r: float(r["loss"]))
            lines.append(
                f"- best (lowest loss): {best['c1']}/{best['c2']}/{best['l1']}: test accuracy "
                f"{100 * float(best['test_accuracy']):.2f}%, loss {float(best['test_loss']):.4f}"
            )
    if target:
        lines.append(
            f"- 48/96/256 (report.csv, best epoch {target['best_epoch']} of {target['epochs_run']}"
            f"{', stopped early' if target.get('stopped_early') == 'true' else ''}): test accuracy "
            f"{100 * float(target['test_accuracy']):.2f}%, loss {float(target['test_loss']):.4f}"
        )
    hist = os.path.join(logs, "search-48-96-256-history.csv")
    if os.path.exists(hist):
        epochs = list(csv.DictReader(open(hist)))
        if epochs:
            last = epochs[-1]
            lines.append(
                f"- 48/96/256 after epoch {last['epoch']} (history.csv): test accuracy "
                f"{100 * float(last['test_accuracy']):.2f}%, loss {float(last['test_loss']):.4f}; "
                f"{float(last['train_images_per_sec']):,.0f} training images/s"
            )
    elif not target:
        lines.append("- 48/96/256: no result (the trial did not run or finish)")
    return lines


def build(logs):
    facts = dict((k, v) for k, v in rows(os.path.join(logs, "facts.tsv"), 2))
    out = []
    mode = " (CHECK MODE: CPU stand-ins, no figure here is a GPU's)" if facts.get("mode") == "check" else ""
    out.append(f"# Kiln GPU check{mode}")
    out.append("")
    out.append(
        f"{facts.get('gpu', 'no GPU')}; driver {facts.get('driver', '-')}; PyTorch {facts.get('torch', '-')}; "
        f"CUDA libraries {facts.get('cuda_libs', '-')}; {facts.get('elapsed', '?')} s of a {facts.get('deadline', '?')} s deadline"
    )
    out.append("")
    out.append("| stage | result | seconds | note |")
    out.append("|---|---|---:|---|")
    for stage, result, secs, note in rows(os.path.join(logs, "stages.tsv"), 4):
        out.append(f"| {stage} | {result} | {secs} | {note} |")

    table, fig = throughput(logs)
    batches = sorted({o.get("batch_size") for entry in table for o in entry[1]} - {None})
    out.append("")
    out.append(
        f"## ConfigNet(48, 96, 256), batch {'/'.join(map(str, batches)) or '-'}, random data: images/s (median of runs)"
    )
    out.append("")
    out.append("| run | train | infer | train ms/step | runs |")
    out.append("|---|---:|---:|---:|---:|")
    for entry in table:
        label, runs = entry[0], entry[1]
        why = entry[2] if len(entry) > 2 else None
        if not runs:
            out.append(f"| {label} | - | - | - | 0{' (' + why + ')' if why else ''} |")
            continue
        out.append(
            f"| {label} | {num(median_of(runs, 'train_images_per_sec'))} | {num(median_of(runs, 'infer_images_per_sec'))} "
            f"| {num(median_of(runs, 'train_step_ms'), 2)} | {len(runs)} |"
        )
    out.append("")
    out.append("| ratio | train | infer |")
    out.append("|---|---:|---:|")
    none = (None, None)
    for label, a, b in (
        ("Kiln tf32 / PyTorch defaults", "kiln_tf32", "torch_defaults"),
        ("Kiln tf32 / PyTorch bf16_cl_fused", "kiln_tf32", "torch_bf16_cl_fused"),
        ("Kiln f32 / PyTorch f32", "kiln_f32", "torch_f32"),
    ):
        (at, ai), (bt, bi) = fig.get(a, none), fig.get(b, none)
        out.append(f"| {label} | {ratio(at, bt)} | {ratio(ai, bi)} |")

    out.append("")
    out.append("## GPU tests")
    out.append("")
    out.append("| binary | run | passed | failed | seconds | note |")
    out.append("|---|---|---:|---:|---:|---|")
    tp = tf = 0
    for b, mode, p, f, listed, rc, secs, note in rows(os.path.join(logs, "tests.tsv"), 8):
        tp += int(p or 0)
        tf += int(f or 0)
        out.append(f"| {b} | {mode} ({listed} listed) | {p} | {f} | {secs} | {note} |")
    out.append(f"| all | | {tp} | {tf} | | |")

    out.append("")
    out.append("## Grid search (walkthrough: c1 32,48 x c2 64,96 x l1 128,256, 10 epochs, augment, early stop 3)")
    out.append("")
    out.extend(search_part(logs))

    out.append("")
    out.append("## compute-sanitizer memcheck")
    out.append("")
    san = rows(os.path.join(logs, "sanitizer.tsv"), 6)
    if not san:
        out.append("not run")
    for b, tests, result, errs, rc, secs in san:
        out.append(f"- {b}: {result} ({tests} tests, {errs} memory errors, exit {rc}, {secs} s)")
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: gpu_check_summary.py LOGS [--print]")
    logs = sys.argv[1]
    text = build(logs)
    tmp = os.path.join(logs, "summary.md.tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, os.path.join(logs, "summary.md"))
    if "--print" in sys.argv[2:]:
        print(text, end="")


if __name__ == "__main__":
    main()
