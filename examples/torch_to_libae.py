#!/usr/bin/env python3
"""Train in PyTorch, deploy in C: trains workload W's shape (784-256-64-256-784, ReLU, sigmoid
output, MSE, Adam 1e-3, batch 128) with PyTorch and writes it as a libae model file, which
ae_load, `ae encode` and `ae reconstruct` then use. Needs Debian's python3-torch.

    python3 torch_to_libae.py OUT.safetensors [--conv | --seq gru|lstm] [--epochs N] [--data DIR] [--synthetic]
                              [--check AE_BINARY]

--conv: the convolutional autoencoder instead (libae's `--input-shape 1x28x28 --conv
16:3:2,32:3:2 --code 64`): Conv2d(1->16, 3, s2) ReLU, Conv2d(16->32, 3, s2) ReLU, flatten
1568 -> 64; 64 -> 1568 ReLU, ConvTranspose2d(32->16) ReLU, ConvTranspose2d(16->1) sigmoid,
padding 1 and output padding 1. Conv2d and ConvTranspose2d store their weights as libae does
([out, in, k, k] and [in, out, k, k]), so they carry over as they are too.
--seq gru|lstm: the recurrent autoencoder instead (libae's `--seq 28x28 --rnn CELL --hidden 128
--code 64`): a row's 28 steps of 28 values through nn.GRU / nn.LSTM(28 -> 128), Linear(128 ->
64) of the last state; the code repeated at every step through the same cell (64 -> 128), and
Linear(128 -> 28) sigmoid on each step. A cell's weight_ih and weight_hh go side by side into
libae's [G, in + 128] weight, bias_ih and bias_hh stacked into its [2, G] bias.
--synthetic trains on random data instead of Fashion-MNIST (quick); --check runs
`AE_BINARY reconstruct` and `AE_BINARY encode` on rows of the data and compares them with
PyTorch's output and code (1e-5).
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


def dense_network():
    """W's shape: (encoder layers, decoder layers, the whole network, libae's config)."""
    enc = [nn.Linear(784, 256), nn.Linear(256, 64)]
    dec = [nn.Linear(64, 256), nn.Linear(256, 784)]
    model = nn.Sequential(enc[0], nn.ReLU(), enc[1], dec[0], nn.ReLU(), dec[1], nn.Sigmoid())
    config = {"input_dim": 784, "n_hidden": 1, "hidden": [256], "code_dim": 64,
              "hidden_act": "relu", "code_act": "linear", "output_act": "sigmoid"}
    return enc, dec, model, config


def conv_network():
    """The conv autoencoder, on rows of 784 (NCHW images 1x28x28, as libae's rows are)."""
    enc = [nn.Conv2d(1, 16, 3, stride=2, padding=1), nn.Conv2d(16, 32, 3, stride=2, padding=1),
           nn.Linear(1568, 64)]
    dec = [nn.Linear(64, 1568), nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1),
           nn.ConvTranspose2d(16, 1, 3, stride=2, padding=1, output_padding=1)]
    model = nn.Sequential(nn.Unflatten(1, (1, 28, 28)), enc[0], nn.ReLU(), enc[1], nn.ReLU(), nn.Flatten(),
                          enc[2], dec[0], nn.ReLU(), nn.Unflatten(1, (32, 7, 7)), dec[1], nn.ReLU(), dec[2],
                          nn.Sigmoid(), nn.Flatten())
    config = {"input_dim": 784, "n_hidden": 0, "hidden": [], "code_dim": 64,
              "hidden_act": "relu", "code_act": "linear", "output_act": "sigmoid",
              "input_shape": [1, 28, 28],
              "conv": [{"channels": 16, "kernel": 3, "stride": 2}, {"channels": 32, "kernel": 3, "stride": 2}]}
    return enc, dec, model, config


class SeqAE(nn.Module):
    """The recurrent autoencoder on rows of 784: 28 steps of 28 values."""

    def __init__(self, cell):
        super().__init__()
        rnn = nn.LSTM if cell == "lstm" else nn.GRU
        self.cell = cell
        self.enc, self.code = rnn(28, 128, batch_first=True), nn.Linear(128, 64)
        self.dec, self.out = rnn(64, 128, batch_first=True), nn.Linear(128, 28)

    def forward(self, x):
        _, state = self.enc(x.view(-1, 28, 28))
        z = self.code(state[0][-1] if self.cell == "lstm" else state[-1])
        states, _ = self.dec(z.unsqueeze(1).repeat(1, 28, 1))
        return torch.sigmoid(self.out(states)).reshape(-1, 784)


def seq_network(cell):
    """(the tensor map, the network, libae's config, the code layer) of the recurrent AE."""
    model = SeqAE(cell)

    def tensors():
        t = {}
        for name, mod in (("encoder.0", model.enc), ("decoder.0", model.dec)):
            t[name + ".weight"] = torch.cat([mod.weight_ih_l0, mod.weight_hh_l0], 1).detach().numpy()
            t[name + ".bias"] = torch.stack([mod.bias_ih_l0, mod.bias_hh_l0]).detach().numpy()
        for name, mod in (("encoder.1", model.code), ("decoder.1", model.out)):
            t[name + ".weight"], t[name + ".bias"] = mod.weight.detach().numpy(), mod.bias.detach().numpy()
        return t

    config = {"input_dim": 784, "n_hidden": 1, "hidden": [128], "code_dim": 64, "hidden_act": "relu",
              "code_act": "linear", "output_act": "sigmoid", "rnn": cell, "seq": [28, 28]}
    return tensors, model, config, model.code


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--synthetic", action="store_true")
    p.add_argument("--check")
    p.add_argument("--conv", action="store_true")
    p.add_argument("--seq", choices=("gru", "lstm"))
    a = p.parse_args()
    torch.manual_seed(0)
    x = np.random.default_rng(0).random((2048, 784), dtype=np.float32) if a.synthetic else fashion_mnist(a.data)
    if a.seq:
        seq_tensors, model, config, code_layer = seq_network(a.seq)
    else:
        enc, dec, model, config = conv_network() if a.conv else dense_network()
        code_layer = enc[-1]
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
    # nn.Linear stores weight [out, in], as libae does (Conv2d [out, in, k, k] and
    # ConvTranspose2d [in, out, k, k] too): the tensors carry over as they are.
    tensors = {}
    for stack, layers in () if a.seq else (("encoder", enc), ("decoder", dec)):
        for i, layer in enumerate(layers):
            tensors[f"{stack}.{i}.weight"] = layer.weight.detach().numpy()
            tensors[f"{stack}.{i}.bias"] = layer.bias.detach().numpy()
    if a.seq:
        tensors = seq_tensors()
    aenumpy.save(a.out, config, tensors)
    print(f"wrote {a.out}")
    if a.check:
        rows = x[:64] if a.synthetic else x[:256]  # fewer under a cross build's emulator
        codes = []  # the encoder's last layer's output: the code
        code_layer.register_forward_hook(lambda mod, inp, out: codes.append(out))
        with torch.no_grad():
            want = model(torch.from_numpy(rows)).numpy()
        with tempfile.TemporaryDirectory() as tmp:
            np.save(os.path.join(tmp, "in.npy"), rows)
            for cmd in ("reconstruct", "encode"):
                subprocess.run([a.check, cmd, a.out, os.path.join(tmp, "in.npy"), "-o",
                                os.path.join(tmp, cmd + ".npy")], check=True)
            err = float(np.max(np.abs(np.load(os.path.join(tmp, "reconstruct.npy")) - want)))
            code_err = float(np.max(np.abs(np.load(os.path.join(tmp, "encode.npy")) - codes[0].numpy())))
        print(f"max |ae reconstruct - PyTorch| = {err:.2e}, |ae encode - PyTorch| = {code_err:.2e}")
        return 0 if err <= 1e-5 and code_err <= 1e-5 else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
