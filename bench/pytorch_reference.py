#!/usr/bin/env python3
"""PyTorch reference for `kiln bench`: the same ConfigNet, loss and optimizer on random data.

ConfigNet(c1, c2, l1, d1): conv(3->c1, 3) relu, conv(c1->c1, 3) relu, dropout d1,
conv(c1->c2, 3) relu, conv(c2->c2, 3, stride 2) relu, dropout 0.5, flatten, BatchNorm1d, relu,
linear(->l1) relu, linear(l1->10); CrossEntropyLoss; Adam(lr=1e-3).

It times `--steps` training steps (forward, loss, backward, Adam step) and `--steps` inference
batches (eval mode, no autograd) after `--warmup` untimed ones of each, synchronising the GPU
around each timed loop, and prints images per second (`--json`: one JSON object with
train_images_per_sec and infer_images_per_sec). The batch lives on the device already (pure
compute) unless --host-data copies it from host memory every step.

  python3 bench/pytorch_reference.py --device cuda --batch-size 512 --steps 30 --json
  python3 bench/pytorch_reference.py --device cpu --threads 2 --batch-size 64 --steps 5

--tf32 off (the default) keeps every GEMM and convolution in full f32, as Kiln does unless
KILN_TF32=1; --tf32 default leaves PyTorch's own defaults (TF32 in cuDNN convolutions).
"""

import argparse
import json
import sys
import time

import torch
from torch import nn


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
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: PyTorch's default)")
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--steps", type=int, default=30, help="timed training steps and inference batches")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps before each timed loop")
    p.add_argument("--c1", type=int, default=48)
    p.add_argument("--c2", type=int, default=96)
    p.add_argument("--l1", type=int, default=256)
    p.add_argument("--d1", type=float, default=0.1)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tf32", default="off", choices=["off", "on", "default"])
    p.add_argument("--host-data", action="store_true", help="copy the batch from host memory each step")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("CUDA is not available to PyTorch here; use --device cpu")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    if args.device == "cuda":
        torch.backends.cudnn.benchmark = True
        if args.tf32 != "default":
            on = args.tf32 == "on"
            torch.backends.cuda.matmul.allow_tf32 = on
            torch.backends.cudnn.allow_tf32 = on

    model = ConfigNet(args.c1, args.c2, args.l1, args.d1).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = nn.CrossEntropyLoss()
    n = args.batch_size
    x_host = torch.randn(n, 3, 32, 32)
    y_host = torch.randint(0, 10, (n,))
    if args.host_data and args.device == "cuda":
        x_host, y_host = x_host.pin_memory(), y_host.pin_memory()
    x_dev, y_dev = x_host.to(device), y_host.to(device)

    def batch():
        if args.host_data:
            return x_host.to(device, non_blocking=True), y_host.to(device, non_blocking=True)
        return x_dev, y_dev

    def sync():
        if args.device == "cuda":
            torch.cuda.synchronize()

    def train_step():
        x, y = batch()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    def infer_step():
        x, _ = batch()
        return model(x)

    model.train()
    for _ in range(args.warmup):
        train_step()
    sync()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        loss = train_step()
    sync()
    train_s = time.perf_counter() - t0
    final_loss = float(loss.detach())

    model.eval()
    with torch.inference_mode():
        for _ in range(args.warmup):
            infer_step()
        sync()
        t0 = time.perf_counter()
        for _ in range(args.steps):
            infer_step()
        sync()
    infer_s = time.perf_counter() - t0

    result = {
        "framework": "pytorch",
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu",
        "threads": torch.get_num_threads(),
        "batch_size": n,
        "steps": args.steps,
        "c1": args.c1,
        "c2": args.c2,
        "l1": args.l1,
        "tf32": args.tf32,
        "cudnn_benchmark": args.device == "cuda",
        "host_data": args.host_data,
        "train_images_per_sec": n * args.steps / train_s,
        "infer_images_per_sec": n * args.steps / infer_s,
        "train_step_ms": 1000 * train_s / args.steps,
        "infer_batch_ms": 1000 * infer_s / args.steps,
        "final_loss": final_loss,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"PyTorch {result['torch']} on {result['device']}: ConfigNet({args.c1}, {args.c2}, {args.l1}), "
            f"batch {n}, tf32 {args.tf32}\n"
            f"  train {result['train_images_per_sec']:,.0f} images/s ({result['train_step_ms']:.2f} ms/step)\n"
            f"  infer {result['infer_images_per_sec']:,.0f} images/s ({result['infer_batch_ms']:.2f} ms/batch)"
        )


if __name__ == "__main__":
    main()
