#!/usr/bin/env python3
"""Checks libae's batch normalisation against torch.nn.BatchNorm1d (eps 1e-5, momentum 0.1).

batchnorm_torch.py BINARY DIR: runs BINARY DIR (tests/batchnorm_torch.c), which writes a
batch-normalised autoencoder's layers and tensors; builds the same network in PyTorch from
them and compares one training pass (train mode: the batch's statistics) -- its MSE loss,
every parameter's gradient, the running statistics after it -- and the reconstruction in eval
mode (the running statistics)."""
import os
import subprocess
import sys

import numpy as np
import torch

ACTS = {"linear": None, "relu": torch.nn.ReLU, "leaky_relu": torch.nn.LeakyReLU,
        "sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh}


def load(d, name, shape):
    return torch.from_numpy(np.fromfile(os.path.join(d, name + ".bin"), dtype="<f4").reshape(shape))


def main():
    binary, d = sys.argv[1], sys.argv[2]
    os.makedirs(d, exist_ok=True)
    subprocess.run([binary, d], check=True)
    layers, named, index = [], [], {"encoder": 0, "decoder": 0}
    for line in open(os.path.join(d, "manifest.txt")):
        stack, kind, n_in, n_out, act = line.split()
        n_in, n_out = int(n_in), int(n_out)
        prefix = "%s.%d" % (stack, index[stack])
        index[stack] += 1
        if kind == "dense":
            mod = torch.nn.Linear(n_in, n_out)
            mod.weight.data = load(d, prefix + ".weight.init", (n_out, n_in)).clone()
        else:
            mod = torch.nn.BatchNorm1d(n_out)  # eps 1e-5, momentum 0.1, as libae
            mod.weight.data = load(d, prefix + ".weight.init", (n_out,)).clone()
            mod.running_mean.copy_(load(d, prefix + ".running_mean.init", (n_out,)))
            mod.running_var.copy_(load(d, prefix + ".running_var.init", (n_out,)))
        mod.bias.data = load(d, prefix + ".bias.init", (n_out,)).clone()
        layers.append(mod)
        named.append((prefix, mod))
        if ACTS[act]:
            layers.append(ACTS[act]())
    net = torch.nn.Sequential(*layers)
    x = load(d, "x", (-1, named[0][1].in_features))
    net.train()
    loss = torch.nn.functional.mse_loss(net(x), x)
    loss.backward()
    worst = 0.0

    def check(what, got, want, tol):
        nonlocal worst
        err = float((got - want).abs().max() / (want.abs().max() + 1e-3))
        worst = max(worst, err)
        if not err <= tol:  # a NaN fails too
            sys.exit("%s differs from PyTorch: relative error %.3g" % (what, err))

    check("loss", load(d, "loss", (1,)), loss.detach().reshape(1), 1e-5)
    for prefix, mod in named:
        for p in ("weight", "bias"):
            check(prefix + "." + p + " gradient", load(d, prefix + "." + p + ".grad", getattr(mod, p).shape),
                  getattr(mod, p).grad, 1e-4)
        if isinstance(mod, torch.nn.BatchNorm1d):
            check(prefix + ".running_mean", load(d, prefix + ".running_mean.after", mod.running_mean.shape),
                  mod.running_mean, 1e-5)
            check(prefix + ".running_var", load(d, prefix + ".running_var.after", mod.running_var.shape),
                  mod.running_var, 1e-5)
    net.eval()
    with torch.no_grad():
        check("eval-mode reconstruction", load(d, "reconstruction", x.shape), net(x), 1e-5)
    print("batch norm matches torch.nn.BatchNorm1d: worst relative error %.2g" % worst)


if __name__ == "__main__":
    main()
