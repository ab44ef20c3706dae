#!/usr/bin/env python3
"""Checks libae's conv autoencoder against torch.nn.Conv2d / ConvTranspose2d / Linear.

conv_torch.py BINARY DIR: runs BINARY DIR (tests/conv_torch.c), which writes a conv
autoencoder's layers (kind, sizes, activation, geometry) and tensors; builds the same network
in PyTorch from them and compares the code and the reconstruction of a batch (1e-5), one
training pass's MSE loss (1e-5) and every gradient (1e-4), and every parameter after one Adam
step (torch.optim.Adam, lr 1e-3; 1e-5). Errors are relative to the largest value compared."""
import os
import subprocess
import sys

import numpy as np
import torch

ACTS = {"linear": None, "relu": torch.nn.ReLU, "leaky_relu": torch.nn.LeakyReLU,
        "sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh}


def load(d, name, shape):
    return torch.from_numpy(np.fromfile(os.path.join(d, name + ".bin"), dtype="<f4").reshape(shape))


def module(kind, n_in, n_out, g):
    """The torch module of one libae layer. g: c_in h_in w_in c_out h_out w_out k s."""
    ci, hi, wi, co, ho, wo, k, s = g
    if kind == "dense":
        return torch.nn.Linear(n_in, n_out)
    if kind == "conv2d":
        return torch.nn.Conv2d(ci, co, k, stride=s, padding=k // 2)
    # ConvTranspose2d: h_out = (h_in - 1) s - 2 p + k + output_padding
    pad = (ho - ((hi - 1) * s - 2 * (k // 2) + k), wo - ((wi - 1) * s - 2 * (k // 2) + k))
    return torch.nn.ConvTranspose2d(ci, co, k, stride=s, padding=k // 2, output_padding=pad)


def build(d):
    """The network as (encoder, decoder) Sequentials, and (file prefix, module) pairs."""
    stacks, named, index, shape = {"encoder": [], "decoder": []}, [], {"encoder": 0, "decoder": 0}, None
    for line in open(os.path.join(d, "manifest.txt")):
        f = line.split()
        stack, kind, n_in, n_out, act = f[0], f[1], int(f[2]), int(f[3]), f[4]
        g = [int(v) for v in f[5:]]
        prefix = "%s.%d" % (stack, index[stack])
        index[stack] += 1
        layers = stacks[stack]
        if kind == "dense" and shape:  # rows of NCHW images flattened, as libae's rows are
            layers.append(torch.nn.Flatten())
            shape = None
        if kind == "conv2d_t" and not shape:
            layers.append(torch.nn.Unflatten(1, tuple(g[0:3])))
        if kind == "conv2d" and not layers:
            layers.append(torch.nn.Unflatten(1, tuple(g[0:3])))
        mod = module(kind, n_in, n_out, g)
        with torch.no_grad():
            mod.weight.copy_(load(d, prefix + ".weight.init", mod.weight.shape))
            mod.bias.copy_(load(d, prefix + ".bias.init", mod.bias.shape))
        layers.append(mod)
        named.append((prefix, mod))
        if ACTS[act]:
            layers.append(ACTS[act]())
        shape = g[3:6] if kind.startswith("conv") else None
    stacks["decoder"].append(torch.nn.Flatten())
    return torch.nn.Sequential(*stacks["encoder"]), torch.nn.Sequential(*stacks["decoder"]), named


def main():
    binary, d = sys.argv[1], sys.argv[2]
    os.makedirs(d, exist_ok=True)
    subprocess.run([binary, d], check=True)
    enc, dec, named = build(d)
    net = torch.nn.Sequential(enc, dec)
    # the input rows: the first layer's row width (manifest's third field)
    x = load(d, "x", (-1, int(open(os.path.join(d, "manifest.txt")).readline().split()[2])))
    worst = 0.0

    def check(what, got, want, tol):
        nonlocal worst
        err = float((got - want).abs().max() / (want.abs().max() + 1e-3))
        worst = max(worst, err)
        if not err <= tol:  # a NaN fails too
            sys.exit("%s differs from PyTorch: relative error %.3g" % (what, err))

    with torch.no_grad():
        code = enc(x)
        check("code", load(d, "code", code.shape), code, 1e-5)
        check("reconstruction", load(d, "reconstruction", x.shape), dec(code), 1e-5)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss = torch.nn.functional.mse_loss(net(x), x)
    opt.zero_grad()
    loss.backward()
    check("loss", load(d, "loss", (1,)), loss.detach().reshape(1), 1e-5)
    for prefix, mod in named:
        for p in ("weight", "bias"):
            check(prefix + "." + p + " gradient", load(d, prefix + "." + p + ".grad", getattr(mod, p).shape),
                  getattr(mod, p).grad, 1e-4)
    opt.step()
    for prefix, mod in named:
        for p in ("weight", "bias"):
            check(prefix + "." + p + " after one Adam step",
                  load(d, prefix + "." + p + ".after", getattr(mod, p).shape), getattr(mod, p).detach(), 1e-5)
    print("conv autoencoder matches PyTorch (%d layers): worst relative error %.2g" % (len(named), worst))


if __name__ == "__main__":
    main()
