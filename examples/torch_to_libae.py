#!/usr/bin/env python3
"""Train in PyTorch, deploy in C: trains workload W's shape (784-256-64-256-784, ReLU, sigmoid
output, MSE, Adam 1e-3, batch 128) with PyTorch and writes it as a libae model file, which
ae_load, `ae encode` and `ae reconstruct` then use. Needs Debian's python3-torch.

    python3 torch_to_libae.py OUT.safetensors [--epochs N] [--data DIR] [--synthetic]
                              [--check AE_BINARY]

--synthetic trains on random data instead of Fashion-MNIST (quick); --check runs
`AE_BINARY reconstruct` on rows of the data and compares it with PyTorch's output (1e-5).
"""
import argparse
import gzip
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aenumpy  # noqa: E402


def fashion_mnist(folder):
    with gzip.open(os.path.join(folder, "train-images-idx3-ubyte.gz"), "rb") as f:
        raw = f.read()
    return np.frombuffer(raw[16:], dtype=np.uint8).reshape(-1, 784).astype(np.float32) / 255.0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--synthetic", action="store_true")
    p.add_argument("--check")
    a = p.parse_args()
    torch.manual_seed(0)
    x = np.random.default_rng(0).random((2048, 784), dtype=np.float32) if a.synthetic else fashion_mnist(a.data)
    enc = [nn.Linear(784, 256), nn.Linear(256, 64)]
    dec = [nn.Linear(64, 256), nn.Linear(256, 784)]
    model = nn.Sequential(enc[0], nn.ReLU(), enc[1], dec[0], nn.ReLU(), dec[1], nn.Sigmoid())
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    data = torch.from_numpy(x)
    for epoch in range(a.epochs):
        perm = torch.randperm(len(data))
        total = 0.0
        for i in range(0, len(data), 128):
            b = data.index_select(0, perm[i:i + 128])
            loss = nn.functional.mse_loss(model(b), b)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(b)
        print(f"epoch {epoch + 1}: train loss {total / len(data):.5f}")
    # nn.Linear stores weight [out, in], as libae does: the tensors carry over as they are.
    tensors = {}
    for stack, layers in (("encoder", enc), ("decoder", dec)):
        for i, lin in enumerate(layers):
            tensors[f"{stack}.{i}.weight"] = lin.weight.detach().numpy()
            tensors[f"{stack}.{i}.bias"] = lin.bias.detach().numpy()
    config = {"input_dim": 784, "n_hidden": 1, "hidden": [256], "code_dim": 64,
              "hidden_act": "relu", "code_act": "linear", "output_act": "sigmoid"}
    aenumpy.save(a.out, config, tensors)
    print(f"wrote {a.out}")
    if a.check:
        rows = x[:256]
        with torch.no_grad():
            want = model(torch.from_numpy(rows)).numpy()
        with tempfile.TemporaryDirectory() as tmp:
            np.save(os.path.join(tmp, "in.npy"), rows)
            subprocess.run([a.check, "reconstruct", a.out, os.path.join(tmp, "in.npy"), "-o",
                            os.path.join(tmp, "rec.npy")], check=True)
            got = np.load(os.path.join(tmp, "rec.npy"))
        err = float(np.max(np.abs(got - want)))
        print(f"max |ae reconstruct - PyTorch| = {err:.2e}")
        return 0 if err <= 1e-5 else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
