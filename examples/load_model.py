#!/usr/bin/env python3
"""Read a libae model file with nothing but json and numpy, and run it.

A libae model is a safetensors file: 8-byte little-endian header length N, N bytes of JSON
naming each tensor (dtype, shape, data_offsets into the data section), then the raw
little-endian float32 data. __metadata__ holds the config as a JSON string.

    python3 load_model.py MODEL.safetensors DATA.npy     # prints reconstruction MSE
    python3 load_model.py --check DIR                    # test: compare with ae_reconstruct
"""
import json
import struct
import sys
import zlib

import numpy as np

ACTIVATIONS = {
    "linear": lambda z: z,
    "relu": lambda z: np.maximum(z, 0.0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "tanh": np.tanh,
}


def load(path):
    """Returns (config dict, {name: float32 array})."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    data = blob[8 + n:]
    meta = header.pop("__metadata__")
    if meta.get("format") != "libae":
        raise ValueError("not a libae model")
    if int(meta["crc32"], 16) != zlib.crc32(data):
        raise ValueError("checksum mismatch")
    tensors = {}
    for name, e in header.items():
        if e["dtype"] != "F32":
            raise ValueError("unexpected dtype " + e["dtype"])
        begin, end = e["data_offsets"]
        tensors[name] = np.frombuffer(data[begin:end], dtype="<f4").reshape(e["shape"])
    return json.loads(meta["config"]), tensors


def forward(config, tensors, x):
    """Rebuilds ae_reconstruct: Y = act(X W^T + b) through the encoder, then the decoder."""
    nh = config["n_hidden"]
    acts = [config["hidden_act"]] * nh + [config["code_act"]] + [config["hidden_act"]] * nh + [config["output_act"]]
    a = np.asarray(x, dtype=np.float64)
    for i in range(2 * (nh + 1)):
        stack, j = ("encoder", i) if i <= nh else ("decoder", i - nh - 1)
        if config["variational"] and i == nh:  # a VAE's code is mu (its logvar head is unused here)
            a = a @ tensors["encoder.mu.weight"].astype(np.float64).T + tensors["encoder.mu.bias"]
            continue
        w_name = f"{stack}.{j}.weight"
        if w_name in tensors:
            w = tensors[w_name].astype(np.float64)
        else:  # tied: decoder layer j uses encoder layer (nh - j) transposed
            w = tensors[f"encoder.{nh - j}.weight"].astype(np.float64).T
        a = ACTIVATIONS[acts[i]](a @ w.T + tensors[f"{stack}.{j}.bias"])
    return a


def check(folder):
    x = np.load(f"{folder}/input.npy")
    worst = 0.0
    for variant in (0, 1, 2):
        config, tensors = load(f"{folder}/model{variant}.safetensors")
        want = np.load(f"{folder}/reconstruction{variant}.npy")
        got = forward(config, tensors, x)
        err = float(np.max(np.abs(got - want)))
        print(f"model{variant}: {len(tensors)} tensors, max |numpy - ae_reconstruct| = {err:.2e}")
        worst = max(worst, err)
    if worst > 1e-5:
        print("FAIL: difference above 1e-5")
        return 1
    print("OK: NumPy matches ae_reconstruct to 1e-5")
    return 0


def main(argv):
    if len(argv) == 3 and argv[1] == "--check":
        return check(argv[2])
    if len(argv) == 3:
        config, tensors = load(argv[1])
        x = np.load(argv[2]).reshape(-1, config["input_dim"]).astype(np.float32)
        rec = forward(config, tensors, x)
        print(f"{len(x)} rows, reconstruction MSE {float(np.mean((rec - x) ** 2)):.6f}")
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
