"""PyTorch's epoch time and test MSE for the sequence workload (issue: recurrent autoencoders):
the 28 rows of a Fashion-MNIST image as 28 steps of 28 values; encoder GRU(28 -> 128) (or
LSTM), code Linear(128 -> 64) of the last state; decoder: the code repeated at every step
through GRU(64 -> 128), Linear(128 -> 28) sigmoid on each step; Adam 1e-3, batch 128,
shuffled, MSE. The same network as `ae train DATA --seq 28x28 --rnn gru --hidden 128 --code 64`.
    python3 bench/seq_torch.py [--cell gru|lstm] [--epochs N] [--threads T] [--data DIR]
Prints one line per epoch (time, train loss), then the test MSE. Debian's PyTorch does its
products in OpenBLAS: set OPENBLAS_CORETYPE and OPENBLAS_NUM_THREADS as for libae."""
import argparse
import os
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conv_torch import fit, images  # noqa: E402


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
    train = torch.from_numpy(images(a.data + "/train-images-idx3-ubyte.gz").reshape(-1, 28, 28))
    test = torch.from_numpy(images(a.data + "/t10k-images-idx3-ubyte.gz").reshape(-1, 28, 28))
    fit(SeqAE(a.cell), train, test, a.epochs, f"{a.cell} threads {a.threads}")

if __name__ == "__main__":
    main()
