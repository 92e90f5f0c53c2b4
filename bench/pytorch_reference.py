#!/usr/bin/env python3
"""PyTorch reference for `kiln bench`: the same ConfigNet, loss and optimizer on random data.

ConfigNet(c1, c2, l1, d1): conv(3->c1, 3) relu, conv(c1->c1, 3) relu, dropout d1,
conv(c1->c2, 3) relu, conv(c2->c2, 3, stride 2) relu, dropout 0.5, flatten, BatchNorm1d, relu,
linear(->l1) relu, linear(l1->10); CrossEntropyLoss; Adam(lr=1e-3).

For each configuration it times `--steps` training steps (forward, loss, backward, Adam step)
and `--steps` inference batches (eval mode, no autograd), `--repeats` times after `--warmup`
untimed ones of each, synchronising the GPU around each timed loop, and reports the median
images per second. The batch lives on the device already (pure compute) unless --host-data
copies it from host memory every step. All configurations run in one process, one after the
other, each with a fresh model and optimizer.

Configurations (--configs, comma-separated, or `all`):
  f32            TF32 off everywhere (cuDNN and matmul): full f32, as `kiln --precision f32`
  defaults       PyTorch's own defaults: TF32 in cuDNN convolutions, matmul TF32 off
  tf32           TF32 everywhere (cuDNN and matmul)
  bf16           the defaults plus autocast to bfloat16
  bf16_cl_fused  bf16 autocast, channels_last activations and weights, Adam(fused=True)
Every configuration runs with cudnn.benchmark on. Only f32 runs on the CPU; the others print a
JSON line saying they were skipped. --dry-run runs every configuration's code (model, memory
format, autocast, optimizer, one step) on the CPU with a small batch, to check the script.

  python3 bench/pytorch_reference.py --device cuda --configs all
  python3 bench/pytorch_reference.py --device cuda --configs f32,defaults --steps 30
  python3 bench/pytorch_reference.py --device cuda --batch-size 512 --steps 30 --json
  python3 bench/pytorch_reference.py --device cpu --threads 2 --batch-size 64 --steps 5
  python3 bench/pytorch_reference.py --dry-run --configs all

Without --configs, --tf32 off (the default) is the f32 configuration, --tf32 default the
defaults and --tf32 on tf32, printed as text unless --json. With --configs the output is one
JSON line per configuration.
"""

import argparse
import contextlib
import json
import statistics
import sys
import time

import torch
from torch import nn

# name -> (matmul TF32, cuDNN TF32, bf16 autocast, channels_last, fused Adam, needs CUDA)
CONFIGS = {
    "f32": (False, False, False, False, False, False),
    "defaults": (False, True, False, False, False, True),
    "tf32": (True, True, False, False, False, True),
    "bf16": (False, True, True, False, False, True),
    "bf16_cl_fused": (False, True, True, True, True, True),
}
TF32_FLAG = {"off": "f32", "default": "defaults", "on": "tf32"}


class ConfigNet(nn.Module):
    """The walkthrough's network, with Kiln's layer names."""

    def __init__(self, c1, c2, l1, d1, d2=0.5, classes=10, size=32, k1=3):
        super().__init__()
        self.conv1 = nn.Conv2d(3, c1, k1)
        self.conv2 = nn.Conv2d(c1, c1, 3)
        self.dropout1 = nn.Dropout(d1)
        self.conv3 = nn.Conv2d(c1, c2, 3)
        self.conv4 = nn.Conv2d(c2, c2, 3, stride=2)
        self.dropout2 = nn.Dropout(d2)
        side = ((size - k1 + 1 - 2 - 2) - 3) // 2 + 1
        self.batch_norm = nn.BatchNorm1d(c2 * side * side)
        self.fc1 = nn.Linear(c2 * side * side, l1)
        self.fc2 = nn.Linear(l1, classes)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        x = self.dropout1(x)
        x = torch.relu(self.conv3(x))
        x = torch.relu(self.conv4(x))
        x = self.dropout2(x)
        x = torch.flatten(x, 1)
        x = torch.relu(self.batch_norm(x))
        x = torch.relu(self.fc1(x))
        return self.fc2(x)


def parse_args(argv):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    p.add_argument("--configs", help="comma-separated configurations, or all: " + ", ".join(CONFIGS))
    p.add_argument("--dry-run", action="store_true", help="run every configuration's code once on the CPU")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: PyTorch's default)")
    p.add_argument("--batch-size", type=int, default=None, help="default 512 (8 with --dry-run)")
    p.add_argument("--steps", type=int, default=30, help="timed training steps and inference batches")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps before each timed loop")
    p.add_argument("--repeats", type=int, default=3, help="timed loops per configuration (median)")
    p.add_argument("--c1", type=int, default=48)
    p.add_argument("--c2", type=int, default=96)
    p.add_argument("--l1", type=int, default=256)
    p.add_argument("--d1", type=float, default=0.1)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tf32", choices=sorted(TF32_FLAG), help="one configuration, the old way")
    p.add_argument("--host-data", action="store_true", help="copy the batch from host memory each step")
    p.add_argument("--json", action="store_true", help="print JSON lines (always so with --configs)")
    args = p.parse_args(argv)
    if args.configs and args.tf32:
        p.error("--tf32 picks one configuration; with --configs leave it out")
    if args.configs:
        names = list(CONFIGS) if args.configs == "all" else [c.strip() for c in args.configs.split(",")]
        bad = [c for c in names if c not in CONFIGS]
        if bad or not names:
            p.error(f"unknown configuration(s) {bad}: choose from {', '.join(CONFIGS)} or all")
        args.config_list = names
        args.json = True
    else:
        args.config_list = [TF32_FLAG[args.tf32 or "off"]]
    if args.dry_run:
        args.device = "cpu"
        args.steps, args.warmup, args.repeats = 1, 1, 1
        args.batch_size = args.batch_size or 8
    args.batch_size = args.batch_size or 512
    if min(args.steps, args.repeats, args.batch_size) < 1 or args.warmup < 0:
        p.error("--steps, --repeats and --batch-size must be at least 1, --warmup at least 0")
    return args


def set_backends(matmul_tf32, cudnn_tf32):
    """Sets the global TF32 switches and reads them back (what PyTorch really uses)."""
    torch.backends.cuda.matmul.allow_tf32 = matmul_tf32
    torch.backends.cudnn.allow_tf32 = cudnn_tf32
    torch.backends.cudnn.benchmark = True
    return torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32


def run_config(name, args, device):
    """Times one configuration; returns its result dict."""
    matmul_tf32, cudnn_tf32, bf16, channels_last, fused, _ = CONFIGS[name]
    on_gpu = device.type == "cuda"
    matmul_tf32, cudnn_tf32 = set_backends(matmul_tf32, cudnn_tf32)
    torch.manual_seed(args.seed)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = ConfigNet(args.c1, args.c2, args.l1, args.d1).to(device, memory_format=fmt)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, fused=True if fused else None)
    loss_fn = nn.CrossEntropyLoss()
    n = args.batch_size
    x_host = torch.randn(n, 3, 32, 32).contiguous(memory_format=fmt)
    y_host = torch.randint(0, 10, (n,))
    if args.host_data and on_gpu:
        x_host, y_host = x_host.pin_memory(), y_host.pin_memory()
    x_dev, y_dev = x_host.to(device), y_host.to(device)

    def batch():
        if args.host_data:
            return x_host.to(device, non_blocking=True), y_host.to(device, non_blocking=True)
        return x_dev, y_dev

    def autocast():
        if bf16:
            return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def sync():
        if on_gpu:
            torch.cuda.synchronize()

    def train_step():
        x, y = batch()
        opt.zero_grad(set_to_none=True)
        with autocast():
            loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    def infer_step():
        x, _ = batch()
        with autocast():
            return model(x)

    def timed(step):
        for _ in range(args.warmup):
            step()
        times = []
        for _ in range(args.repeats):
            sync()
            t0 = time.perf_counter()
            for _ in range(args.steps):
                out = step()
            sync()
            times.append(time.perf_counter() - t0)
        return times, out

    if on_gpu:
        torch.cuda.reset_peak_memory_stats()
    model.train()
    train_times, loss = timed(train_step)
    final_loss = float(loss.detach().float())
    model.eval()
    with torch.inference_mode():
        infer_times, _ = timed(infer_step)
    train_s, infer_s = statistics.median(train_times), statistics.median(infer_times)
    result = {
        "framework": "pytorch",
        "config": name,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if on_gpu else None,
        "device": torch.cuda.get_device_name(device) if on_gpu else "cpu",
        "threads": torch.get_num_threads(),
        "batch_size": n,
        "steps": args.steps,
        "warmup": args.warmup,
        "repeats": args.repeats,
        "c1": args.c1,
        "c2": args.c2,
        "l1": args.l1,
        "tf32": {"f32": "off", "defaults": "default", "tf32": "on"}.get(name, "default"),
        "matmul_tf32": matmul_tf32,
        "cudnn_tf32": cudnn_tf32,
        "autocast": "bfloat16" if bf16 else None,
        "channels_last": channels_last,
        "fused_adam": fused,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "host_data": args.host_data,
        "dry_run": args.dry_run,
        "train_images_per_sec": n * args.steps / train_s,
        "infer_images_per_sec": n * args.steps / infer_s,
        "train_step_ms": 1000 * train_s / args.steps,
        "infer_batch_ms": 1000 * infer_s / args.steps,
        "train_images_per_sec_repeats": [round(n * args.steps / t, 1) for t in train_times],
        "infer_images_per_sec_repeats": [round(n * args.steps / t, 1) for t in infer_times],
        "final_loss": final_loss,
        "peak_memory_mib": torch.cuda.max_memory_allocated(device) / 2**20 if on_gpu else None,
    }
    del model, opt, x_dev, y_dev
    if on_gpu:
        torch.cuda.empty_cache()
    return result


def print_text(r):
    print(
        f"PyTorch {r['torch']} on {r['device']}: ConfigNet({r['c1']}, {r['c2']}, {r['l1']}), "
        f"batch {r['batch_size']}, {r['config']}\n"
        f"  train {r['train_images_per_sec']:,.0f} images/s ({r['train_step_ms']:.2f} ms/step)\n"
        f"  infer {r['infer_images_per_sec']:,.0f} images/s ({r['infer_batch_ms']:.2f} ms/batch)"
    )


def main(argv=None):
    args = parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("CUDA is not available to PyTorch here; use --device cpu")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    failed = 0
    for name in args.config_list:
        if CONFIGS[name][5] and device.type != "cuda" and not args.dry_run:
            print(json.dumps({"framework": "pytorch", "config": name, "skipped": "needs CUDA (TF32/bf16/fused)"}))
            continue
        try:
            result = run_config(name, args, device)
        except Exception as e:  # one configuration's failure must not hide the others
            failed += 1
            print(json.dumps({"framework": "pytorch", "config": name, "error": f"{type(e).__name__}: {e}"}))
            continue
        if args.json:
            print(json.dumps(result), flush=True)
        else:
            print_text(result)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
