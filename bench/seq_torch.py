"""PyTorch's epoch time and test MSE for the sequence workload (issue: recurrent autoencoders):
the 28 rows of a Fashion-MNIST image as 28 steps of 28 values; encoder GRU(28 -> 128) (or
LSTM), code Linear(128 -> 64) of the last state; decoder: the code repeated at every step
through GRU(64 -> 128), Linear(128 -> 28) sigmoid on each step; Adam 1e-3, batch 128,
shuffled, MSE. The same network as `ae train DATA --seq 28x28 --rnn gru --hidden 128 --code 64`.
    python3 bench/seq_torch.py [--cell gru|lstm] [--epochs N] [--threads T] [--data DIR]
Prints one line per epoch (time, train loss), then the test MSE. Debian's PyTorch does its
products in OpenBLAS: set OPENBLAS_CORETYPE and OPENBLAS_NUM_THREADS as for libae."""
import argparse
import gzip
import time

import numpy as np
import torch
from torch import nn


def images(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    return np.frombuffer(raw, np.uint8, offset=16).astype(np.float32).reshape(-1, 28, 28) / 255.0


class SeqAE(nn.Module):
    def __init__(self, cell, steps=28, features=28, hidden=128, code=64):
        super().__init__()
        rnn = nn.LSTM if cell == "lstm" else nn.GRU
        self.steps, self.cell = steps, cell
        self.enc = rnn(features, hidden, batch_first=True)
        self.code = nn.Linear(hidden, code)
        self.dec = rnn(code, hidden, batch_first=True)
        self.out = nn.Linear(hidden, features)

    def forward(self, x):
        _, state = self.enc(x)
        last = state[0][-1] if self.cell == "lstm" else state[-1]
        z = self.code(last)
        states, _ = self.dec(z.unsqueeze(1).repeat(1, self.steps, 1))
        return torch.sigmoid(self.out(states))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cell", default="gru", choices=("gru", "lstm"))
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    train = torch.from_numpy(images(a.data + "/train-images-idx3-ubyte.gz"))
    test = torch.from_numpy(images(a.data + "/t10k-images-idx3-ubyte.gz"))
    net = SeqAE(a.cell)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    for epoch in range(1, a.epochs + 1):
        t0 = time.perf_counter()
        perm = torch.randperm(len(train))
        total = 0.0
        for i in range(0, len(train), 128):
            x = train[perm[i:i + 128]]
            loss = nn.functional.mse_loss(net(x), x)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(x)
        print(f"{a.cell} threads {a.threads} epoch {epoch} train loss {total / len(train):.5f} "
              f"({time.perf_counter() - t0:.2f} s)", flush=True)
    with torch.no_grad():
        mse = sum(float(((net(test[i:i + 1000]) - test[i:i + 1000]) ** 2).sum()) for i in range(0, len(test), 1000))
    print(f"{a.cell} threads {a.threads} test MSE {mse / test.numel():.5f}")


if __name__ == "__main__":
    main()
