#!/usr/bin/env python3
"""examples/aenumpy.py runs libae's recurrent models: GRU and LSTM sequence autoencoders (and a
GRU VAE) trained by the ae command, reconstructed by aenumpy in float64 and by
`ae reconstruct`, must agree to 1e-5; aenumpy.save's copy of a model loads in ae and
reconstructs alike.
    aenumpy_seq.py AE DIR"""
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))
import aenumpy  # noqa: E402


def main():
    ae, d = sys.argv[1].split(), sys.argv[2]
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(3)
    steps, feats = 6, 3
    t = np.arange(steps)[None, :, None]
    x = 0.5 + 0.4 * np.sin(0.7 * t + rng.uniform(0, 6, (80, 1, feats)))
    x = x.reshape(80, steps * feats).astype(np.float32)
    rows = os.path.join(d, "rows.npy")
    np.save(rows, x)
    for cell, extra in (("gru", []), ("lstm", []), ("gru", ["--variational"])):
        model = os.path.join(d, cell + ("_vae" if extra else "") + ".safetensors")
        subprocess.run(ae + ["train", rows, "-o", model, "--seq", "%dx%d" % (steps, feats), "--rnn", cell,
                             "--hidden", "7", "--code", "3", "--epochs", "3"] + extra,
                       check=True, capture_output=True)
        out = os.path.join(d, "rec.npy")
        subprocess.run(ae + ["reconstruct", model, rows, "-o", out], check=True, capture_output=True)
        m = aenumpy.load(model)
        err = float(np.abs(m.reconstruct(x) - np.load(out)).max())
        if not err < 1e-5:
            sys.exit("%s %s: aenumpy's reconstruction differs from ae's by %.3g" % (cell, extra, err))
        copy = os.path.join(d, "copy.safetensors")
        aenumpy.save(copy, m.config, m.tensors)
        subprocess.run(ae + ["reconstruct", copy, rows, "-o", out], check=True, capture_output=True)
        err2 = float(np.abs(m.reconstruct(x) - np.load(out)).max())
        if not err2 < 1e-5:
            sys.exit("%s: aenumpy.save's copy reconstructs differently in ae (%.3g)" % (cell, err2))
        print("%s%s: aenumpy and ae reconstruct within %.2g (copy %.2g)" % (cell, " vae" if extra else "", err, err2))


if __name__ == "__main__":
    main()
