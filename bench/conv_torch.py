"""PyTorch's epoch time and test MSE for examples/conv_denoise's network (sigma 0): Conv(1->16,
3, s2) ReLU, Conv(16->32, 3, s2) ReLU, flatten 1568 -> 64; 64 -> 1568 ReLU, ConvT(32->16)
ReLU, ConvT(16->1) sigmoid; Adam 1e-3, batch 128, shuffled, MSE.
    python3 bench/conv_torch.py [EPOCHS] [THREADS] [DATA_DIR] [SEED]   (seed default 0)"""
import gzip
import sys
import time

import numpy as np
import torch
from torch import nn


def images(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    return np.frombuffer(raw, np.uint8, offset=16).astype(np.float32).reshape(-1, 1, 28, 28) / 255.0


def network():
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(1568, 64),
        nn.Linear(64, 1568), nn.ReLU(), nn.Unflatten(1, (32, 7, 7)),
        nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
        nn.ConvTranspose2d(16, 1, 3, stride=2, padding=1, output_padding=1), nn.Sigmoid())


def fit(net, train, test, epochs, label):
    """Adam 1e-3, batch 128, shuffled, MSE, for epochs over train (printing each epoch's time
    and train loss after label), then the test MSE."""
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    for epoch in range(1, epochs + 1):
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
        print(f"{label} epoch {epoch} train loss {total / len(train):.5f} "
              f"({time.perf_counter() - t0:.2f} s)", flush=True)
    with torch.no_grad():
        mse = sum(float(((net(test[i:i + 1000]) - test[i:i + 1000]) ** 2).sum()) for i in range(0, len(test), 1000))
    print(f"{label} test MSE {mse / test.numel():.5f}")


def main():
    epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    root = sys.argv[3] if len(sys.argv) > 3 else "/usr/share/datasets/fashion-mnist"
    torch.set_num_threads(threads)
    torch.manual_seed(int(sys.argv[4]) if len(sys.argv) > 4 else 0)
    train = torch.from_numpy(images(root + "/train-images-idx3-ubyte.gz"))
    test = torch.from_numpy(images(root + "/t10k-images-idx3-ubyte.gz"))
    fit(network(), train, test, epochs, f"threads {threads}")

if __name__ == "__main__":
    main()
