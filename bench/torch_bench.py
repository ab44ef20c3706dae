#!/usr/bin/env python3
"""PyTorch reference for ae_bench's W, W-big and conv workloads.

The same network (ReLU hidden, linear code, sigmoid output), loss (MSE, element mean), optimiser
(Adam 1e-3) and batch (128, shuffled, last partial batch used) on the same Fashion-MNIST rows,
so the epoch times can be set against libae's. Batches are gathered with torch.randperm +
index_select rather than a DataLoader, which would add Python overhead per batch.

conv is bench/conv_torch.py's network (Conv2d(1->16, 3, s2) ReLU, Conv2d(16->32, 3, s2) ReLU,
flatten 1568 -> 64; 64 -> 1568 ReLU, ConvTranspose2d(32->16) ReLU, ConvTranspose2d(16->1)
sigmoid) on the rows viewed as 1x28x28 images.

  torch_bench.py [--workload W|W-big|conv] [--epochs N] [--batch N] [--torch-threads 1,2]
                 [--data DIR] [--markdown]

Each torch thread count in --torch-threads is tried in turn (one warm-up epoch, then the timed
epochs, the median reported) and the best is reported. Debian's PyTorch does its matrix
products in OpenBLAS, whose threads are set by OPENBLAS_NUM_THREADS and whose kernels by
OPENBLAS_CORETYPE, both read when the library loads: set them in the environment (bench/run.sh
does). Progress goes to stderr; with --markdown stdout holds one Markdown table row in
bench/run.sh's columns, the report going to stderr.
"""
import argparse
import gzip
import os
import resource
import statistics
import struct
import sys
import time

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import conv_torch  # noqa: E402

WORKLOADS = {  # name: (hidden widths, code width, default timed epochs); conv: hidden None
    "W": ((256,), 64, 3),
    "W-big": ((1024, 256), 64, 2),
    "conv": (None, 64, 2),
}


def log(msg):
    print(f"[torch_bench] {msg}", file=sys.stderr, flush=True)


def read_idx_images(path):
    """An IDX unsigned-byte file (gzip) as float32 rows in [0,1], as ae_data_load reads it."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic, = struct.unpack(">I", raw[:4])
    if magic >> 8 != 0x08:  # 0x08: unsigned byte
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    ndim = magic & 0xFF
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    rows = dims[0]
    cols = int(np.prod(dims[1:]))
    if data.size != rows * cols:
        raise ValueError(f"{path}: truncated")
    return torch.from_numpy(data.reshape(rows, cols).astype(np.float32) / 255.0)


def build(d, hidden, code):
    """Encoder d-h1-..-code (ReLU hidden, linear code), mirrored decoder with sigmoid output;
    with hidden None, conv_torch's network on rows of d = 784. Returns the model, its encoder,
    and its description."""
    if hidden is None:
        model = nn.Sequential(nn.Unflatten(1, (1, 28, 28)), *conv_torch.network(), nn.Flatten())
        return model, model[:7], "1x28x28 conv 16:3:2,32:3:2, 1568-64-1568, mirrored"
    widths = [d, *hidden, code, *reversed(hidden), d]
    layers = []
    n = len(widths) - 1
    for i in range(n):
        layers.append(nn.Linear(widths[i], widths[i + 1]))
        if i == n - 1:
            layers.append(nn.Sigmoid())
        elif i != len(hidden):  # layer len(hidden) makes the code: no activation
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers)
    encoder = model[: 2 * len(hidden) + 1]  # Linear+ReLU per hidden layer, then the code Linear
    return model, encoder, "-".join(str(w) for w in widths)


def layer_mnk(model, d):
    """Multiply-adds of each layer's product for one row, in order, as ae_bench's
    gemm_floor counts them (a conv layer: weight rows x K x P over the im2col columns)."""
    mnk = []

    def hook(mod, inp, out):
        if isinstance(mod, nn.Linear):
            mnk.append(mod.in_features * mod.out_features)
        elif isinstance(mod, nn.Conv2d):
            mnk.append(mod.weight.numel() * out.shape[2] * out.shape[3])
        elif isinstance(mod, nn.ConvTranspose2d):
            mnk.append(mod.weight.numel() * inp[0].shape[2] * inp[0].shape[3])
    handles = [m.register_forward_hook(hook) for m in model.modules()]
    with torch.no_grad():
        model(torch.zeros(1, d))
    for h in handles:
        h.remove()
    return mnk


def epoch_flops(mnk, n, batch):
    """GEMM flops of one epoch, counted exactly as ae_bench counts them: 2*M*N*K for the
    forward product and dW of every layer, and dX of every layer but the first."""
    def step(rows):
        return sum(2.0 * rows * m * (3 if l else 2) for l, m in enumerate(mnk))
    full, rest = divmod(n, batch)
    return full * step(batch) + (step(rest) if rest else 0.0)


def run_setting(threads, x, xt, hidden, code, batch, epochs, give_up_after):
    """Train with torch.set_num_threads(threads); None when the warm-up epoch already took
    longer than give_up_after seconds (a setting that slow cannot be the best: with 2 torch
    threads and 2 OpenBLAS threads on 2 cores it can be 5-10x slower, minutes per epoch)."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model, encoder, arch = build(x.shape[1], hidden, code)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    crit = nn.MSELoss()
    n = x.shape[0]
    times, loss_value = [], float("nan")
    for e in range(epochs + 1):
        t0 = time.perf_counter()
        perm = torch.randperm(n)
        total = 0.0
        for r0 in range(0, n, batch):
            xb = x.index_select(0, perm[r0:r0 + batch])
            opt.zero_grad(set_to_none=True)
            loss = crit(model(xb), xb)
            loss.backward()
            opt.step()
            total += loss.item() * xb.shape[0]  # the same sample-weighted mean libae reports
        dt = time.perf_counter() - t0
        loss_value = total / n
        log(f"torch threads {threads}: epoch {e + 1}/{epochs + 1}"
            f"{' (warm-up, not counted)' if e == 0 else ''}: {dt:.3f} s, {n / dt:.0f} samples/s, "
            f"train loss {loss_value:.6f}")
        if e:
            times.append(dt)
        elif give_up_after is not None and dt > give_up_after:
            log(f"torch threads {threads}: warm-up epoch over {give_up_after:.1f} s, "
                f"3x the best median so far: not timed further")
            return None
    enc = []
    with torch.no_grad():
        for r in range(4):  # one warm-up, then 3
            t0 = time.perf_counter()
            encoder(xt)
            if r:
                enc.append(time.perf_counter() - t0)
    return {
        "threads": threads,
        "median": statistics.median(times),
        "min": min(times),
        "max": max(times),
        "encode": statistics.median(enc),
        "loss": loss_value,
        "arch": arch,
        "mnk": layer_mnk(model, x.shape[1]),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", choices=sorted(WORKLOADS), default="W")
    ap.add_argument("--epochs", type=int, default=0, help="timed epochs (default 3 for W, 2 for W-big and conv)")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--torch-threads", default="1,2",
                    help="comma-separated torch.set_num_threads values to try (default 1,2)")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    hidden, code, default_epochs = WORKLOADS[a.workload]
    epochs = a.epochs or default_epochs
    if epochs < 1 or a.batch < 1:
        ap.error("--epochs and --batch must be positive")
    try:
        settings = [int(t) for t in a.torch_threads.split(",")]
    except ValueError:
        ap.error("--torch-threads takes comma-separated integers")
    if not settings or min(settings) < 1:
        ap.error("--torch-threads takes positive integers")

    log(f"workload {a.workload}: loading data")
    x = read_idx_images(os.path.join(a.data, "train-images-idx3-ubyte.gz"))
    xt = read_idx_images(os.path.join(a.data, "t10k-images-idx3-ubyte.gz"))
    n = x.shape[0]
    batch = min(a.batch, n)

    results, abandoned = [], []
    for t in settings:
        limit = 3 * min(r["median"] for r in results) if results else None
        r = run_setting(t, x, xt, hidden, code, batch, epochs, limit)
        if r is None:
            abandoned.append(t)
        else:
            results.append(r)
    best = min(results, key=lambda r: r["median"])
    flops = epoch_flops(best["mnk"], n, batch)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    sps = n / best["median"]
    gflops = flops / best["median"] * 1e-9
    enc_rps = xt.shape[0] / best["encode"]
    arch = best["arch"]

    rep = sys.stderr if a.markdown else sys.stdout
    print(f"workload         {a.workload} ({arch}), Fashion-MNIST train, {n} rows, batch {batch}, "
          f"Adam 1e-3, MSE", file=rep)
    env = {k: os.environ.get(k, "unset") for k in ("OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE")}
    print(f"PyTorch          {torch.__version__}, OPENBLAS_NUM_THREADS={env['OPENBLAS_NUM_THREADS']}, "
          f"OPENBLAS_CORETYPE={env['OPENBLAS_CORETYPE']}", file=rep)
    for r in results:
        print(f"torch threads {r['threads']}  epoch {r['median']:.3f} s median of {epochs} "
              f"(min {r['min']:.3f}, max {r['max']:.3f}), {n / r['median']:.0f} samples/s", file=rep)
    for t in abandoned:
        print(f"torch threads {t}  warm-up epoch over 3x the best median: not timed", file=rep)
    print(f"best             torch threads {best['threads']}", file=rep)
    print(f"achieved         {gflops:.1f} GFLOP/s (step GEMM flops / epoch time)", file=rep)
    print(f"encode           {xt.shape[0]} test rows in {best['encode']:.4f} s: {enc_rps:.0f} rows/s", file=rep)
    print(f"final train loss {best['loss']:.6f}", file=rep)
    print(f"peak RSS         {rss:.1f} MiB (the whole Python process, torch included)", file=rep)
    if a.markdown:
        print(f"| PyTorch {torch.__version__} (torch threads {best['threads']}) | {a.workload} | {n} | {batch} | "
              f"{best['median']:.3f} | {sps:.0f} | {gflops:.2f} | n/a | n/a | {enc_rps:.0f} | {rss:.1f} | "
              f"{best['loss']:.4g} |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
