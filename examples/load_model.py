#!/usr/bin/env python3
"""Reads a libae model file with nothing but json and numpy (see aenumpy.py), and runs it.

    python3 load_model.py MODEL.safetensors DATA.npy     # prints reconstruction MSE
    python3 load_model.py --check DIR                    # test: compare with ae_reconstruct
                                                         # and ae_encode, and write each
                                                         # model back for C
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aenumpy  # noqa: E402


def check(folder):
    x = np.load(f"{folder}/input.npy")
    worst = 0.0
    for variant in (0, 1, 2, 3, 4):
        m = aenumpy.load(f"{folder}/model{variant}.safetensors")
        want = np.load(f"{folder}/reconstruction{variant}.npy")
        err = float(np.max(np.abs(m.reconstruct(x) - want)))
        code_err = float(np.max(np.abs(m.encode(x) - np.load(f"{folder}/code{variant}.npy"))))
        print(f"model{variant}: {len(m.tensors)} tensors, max |numpy - ae_reconstruct| = {err:.2e}, "
              f"|numpy - ae_encode| = {code_err:.2e}")
        # a NaN difference must fail: max() would drop it, so it counts as infinite
        err = max(err, code_err) if err == err and code_err == code_err else float("inf")
        worst = max(worst, err)
        # the NumPy writer: C reads these back (export_for_python --verify)
        aenumpy.save(f"{folder}/roundtrip{variant}.safetensors", m.config, m.tensors, m.extra)
    if worst > 1e-5:
        print("FAIL: difference above 1e-5")
        return 1
    print("OK: NumPy matches ae_reconstruct and ae_encode to 1e-5")
    return 0


def main(argv):
    if len(argv) == 3 and argv[1] == "--check":
        return check(argv[2])
    if len(argv) == 3:
        m = aenumpy.load(argv[1])
        x = np.load(argv[2]).reshape(-1, m.config["input_dim"]).astype(np.float32)
        print(f"{len(x)} rows, reconstruction MSE {float(np.mean((m.reconstruct(x) - x) ** 2)):.6f}")
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
