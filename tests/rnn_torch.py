#!/usr/bin/env python3
"""Checks libae's recurrent autoencoders against torch.nn.GRU and torch.nn.LSTM.

rnn_torch.py BINARY DIR: runs BINARY DIR (tests/rnn_torch.c), which writes, for each cell, a
sequence autoencoder's tensors as the model file names and lays them out (a recurrent
layer's weight [G, F + H] = [weight_ih | weight_hh], bias [2, G] = [bias_ih ; bias_hh]), and
its input rows, one training pass's MSE loss and gradients (every parameter's and the
input's) and the reconstruction. Builds the same network in PyTorch from them: encoder
cell(F -> H) over the steps, Linear(H -> K) of the last state, the code repeated at every step
through cell(K -> H), Linear(H -> F) sigmoid on each step; compares all of it to 1e-5."""
import os
import subprocess
import sys

import numpy as np
import torch

ROWS, T, F, H, K = 7, 6, 3, 5, 4


def load(d, name, shape):
    return torch.from_numpy(np.fromfile(os.path.join(d, name + ".bin"), dtype="<f4").reshape(shape)).double()


def cell_from(d, prefix, kind, n_in):
    G = (4 if kind == "lstm" else 3) * H
    mod = (torch.nn.LSTM if kind == "lstm" else torch.nn.GRU)(n_in, H, batch_first=True).double()
    w, b = load(d, prefix + ".weight", (G, n_in + H)), load(d, prefix + ".bias", (2, G))
    mod.weight_ih_l0.data = w[:, :n_in].clone()
    mod.weight_hh_l0.data = w[:, n_in:].clone()
    mod.bias_ih_l0.data = b[0].clone()
    mod.bias_hh_l0.data = b[1].clone()
    return mod


def linear_from(d, prefix, n_in, n_out):
    mod = torch.nn.Linear(n_in, n_out).double()
    mod.weight.data = load(d, prefix + ".weight", (n_out, n_in)).clone()
    mod.bias.data = load(d, prefix + ".bias", (n_out,)).clone()
    return mod


def check_cell(d, kind):
    enc, code = cell_from(d, "encoder.0", kind, F), linear_from(d, "encoder.1", H, K)
    dec, out = cell_from(d, "decoder.0", kind, K), linear_from(d, "decoder.1", H, F)
    x = load(d, "x", (ROWS, T * F)).requires_grad_(True)
    _, state = enc(x.view(ROWS, T, F))
    last = state[0][-1] if kind == "lstm" else state[-1]
    z = code(last)
    states, _ = dec(z.unsqueeze(1).repeat(1, T, 1))
    rec = torch.sigmoid(out(states)).reshape(ROWS, T * F)
    loss = torch.nn.functional.mse_loss(rec, x.detach())
    loss.backward()
    worst = 0.0

    def check(what, got, want):
        nonlocal worst
        err = float((got - want).abs().max())
        worst = max(worst, err)
        if not err <= 1e-5:  # a NaN fails too
            sys.exit("%s %s differs from PyTorch by %.3g (> 1e-5)" % (kind, what, err))

    check("loss", load(d, "loss", (1,))[0], loss.detach())
    check("reconstruction", load(d, "reconstruction", (ROWS, T * F)), rec.detach())
    check("input gradient", load(d, "x.grad", (ROWS, T * F)), x.grad)
    for prefix, mod, n_in in (("encoder.0", enc, F), ("decoder.0", dec, K)):
        gw = torch.cat([mod.weight_ih_l0.grad, mod.weight_hh_l0.grad], 1)
        gb = torch.stack([mod.bias_ih_l0.grad, mod.bias_hh_l0.grad])
        check(prefix + ".weight gradient", load(d, prefix + ".weight.grad", tuple(gw.shape)), gw)
        check(prefix + ".bias gradient", load(d, prefix + ".bias.grad", tuple(gb.shape)), gb)
    for prefix, mod in (("encoder.1", code), ("decoder.1", out)):
        check(prefix + ".weight gradient", load(d, prefix + ".weight.grad", tuple(mod.weight.shape)), mod.weight.grad)
        check(prefix + ".bias gradient", load(d, prefix + ".bias.grad", tuple(mod.bias.shape)), mod.bias.grad)
    print("%s: loss, reconstruction and every gradient within %.2g of PyTorch (float64)" % (kind, worst))


def main():
    binary, d = sys.argv[1], sys.argv[2]
    for kind in ("gru", "lstm"):
        os.makedirs(os.path.join(d, kind), exist_ok=True)
    subprocess.run([binary, d], check=True)
    for kind in ("gru", "lstm"):
        check_cell(os.path.join(d, kind), kind)


if __name__ == "__main__":
    main()
