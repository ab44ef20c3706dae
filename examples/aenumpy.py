"""libae models in NumPy: read, run and write libae's model files with nothing but json, zlib
and numpy (Debian's python3-numpy).

A libae model file is safetensors: an 8-byte little-endian header length N, N bytes of JSON
(dtype, shape and data_offsets of each tensor, and a __metadata__ of strings), then the raw
little-endian float32 data. __metadata__ holds format=libae, format_version, config (the
ae_config as JSON) and crc32 (of the data section, 8 hex digits).

    import aenumpy
    m = aenumpy.load("model.safetensors")   # m.config: dict, m.tensors: name -> float32 array
    codes = m.encode(x)                      # x: [n, input_dim]; a VAE gives mu
    rec = m.reconstruct(x)
    aenumpy.save("copy.safetensors", m.config, m.tensors)   # loadable by ae_load

Tensor names: encoder.{i}.weight [out, in] and encoder.{i}.bias [out] from the input side,
decoder.{i}.* from the code side; a VAE's code layer is encoder.mu.* and encoder.logvar.*; a
tied model has no decoder weights (decoder i uses encoder (n_hidden - i)'s, transposed).
With conv layers (config input_shape [c, h, w] and conv, a list of {channels, kernel, stride}):
rows are NCHW images; encoder.{i} for i < len(conv) are torch.nn.Conv2d weights [out, in, k, k]
(padding k // 2, each side ceil(side / stride)), then the dense layers, the code, a dense layer
back to the last convolution's flattened size, and the mirrored torch.nn.ConvTranspose2d layers
(weights [in, out, k, k], output padding restoring each shape), the last ending in output_act.
With batch_norm, each hidden block is two layers (dense, then batch norm, whose weight and bias
[out] are gamma and beta, with running_mean and running_var [out]), counted in the indices.
A recurrent model (config "rnn": "gru" or "lstm", "seq": [steps, features]) is four layers:
encoder.0 the cell over the steps (its last state), encoder.1 the dense code layer, decoder.0
the cell fed the code at every step (every state), decoder.1 one dense layer on each step. A
cell's weight is [G, in + H] = [weight_ih | weight_hh] and its bias [2, G] = [bias_ih ;
bias_hh], torch.nn.GRU's (G = 3H: r, z, n) and torch.nn.LSTM's (G = 4H: i, f, g, o) layouts.
Input scaling: scaling.offset and scaling.scale [input_dim] (with a "scaling" metadata key),
when the model scales its rows: x' = (x - offset) / scale goes in, rows come out as
y * scale + offset; codes are those of the scaled rows.
"""
import json
import struct
import zlib

import numpy as np

ACTIVATIONS = {
    "linear": lambda z: z,
    "relu": lambda z: np.maximum(z, 0.0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "tanh": np.tanh,
    "softplus": lambda z: np.where(z > 20, z, np.log1p(np.exp(np.minimum(z, 20)))),
}

CONFIG_DEFAULTS = {"hidden_act": "relu", "code_act": "linear", "output_act": "sigmoid",
                   "tied_weights": 0, "variational": 0, "seed": "42"}


def conv_shapes(config):
    """[c, h, w] of the input and after each conv layer of config (empty for a dense model)."""
    if not config.get("conv"):
        return []
    shapes = [list(config["input_shape"])]
    for v in config["conv"]:
        s, (_, h, w) = v["stride"], shapes[-1]
        shapes.append([v["channels"], -(-h // s), -(-w // s)])
    return shapes


def conv2d(a, w, b, shape_in, shape_out, stride):
    """torch.nn.Conv2d (padding k // 2) of rows a [n, c_in h w] -> [n, c_out oh ow]; w [out, in, k, k]."""
    k, p = w.shape[2], w.shape[2] // 2
    (ci, h, wd), (co, oh, ow) = shape_in, shape_out
    x = np.pad(a.reshape(-1, ci, h, wd), ((0, 0), (0, 0), (p, p), (p, p)))
    y = np.zeros((len(a), co, oh, ow)) + b.reshape(1, co, 1, 1)
    for i in range(k):
        for j in range(k):
            patch = x[:, :, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride]
            y += np.einsum("ncyx,oc->noyx", patch, w[:, :, i, j])
    return y.reshape(len(a), -1)


def conv2d_t(a, w, b, shape_in, shape_out, stride):
    """torch.nn.ConvTranspose2d (padding k // 2, output padding to shape_out) of rows a
    [n, c_in h w] -> [n, c_out oh ow]; w [in, out, k, k]: input pixel (y, x) adds w to output
    pixels (y stride - p + i, x stride - p + j)."""
    k, p = w.shape[2], w.shape[2] // 2
    (ci, h, wd), (co, oh, ow) = shape_in, shape_out
    x = a.reshape(-1, ci, h, wd)
    full = np.zeros((len(a), co, (h - 1) * stride + k + stride, (wd - 1) * stride + k + stride))
    for i in range(k):
        for j in range(k):
            full[:, :, i:i + stride * (h - 1) + 1:stride, j:j + stride * (wd - 1) + 1:stride] += \
                np.einsum("ncyx,co->noyx", x, w[:, :, i, j])
    return (full[:, :, p:p + oh, p:p + ow] + b.reshape(1, co, 1, 1)).reshape(len(a), -1)


class Model:
    """A loaded model: config (dict) and tensors (name -> float32 array), and its forward pass
    in float64."""

    def __init__(self, config, tensors):
        self.config = config
        self.tensors = tensors
        self.extra = {}

    def _sequence(self):
        """The layers in order: (stack, index in the stack, kind, activation), as libae builds
        them: a hidden block is a dense layer, then with batch_norm a batch norm layer that
        takes over the activation."""
        c = self.config
        nh, bn, nc = c["n_hidden"], c.get("batch_norm", 0), len(c.get("conv", []))
        hidden = [("dense", "linear"), ("batchnorm", c["hidden_act"])] if bn else [("dense", c["hidden_act"])]
        enc = [("conv2d", c["hidden_act"])] * nc + hidden * nh + [("dense", c["code_act"])]
        dec = hidden * nh + [("dense", c["output_act"])]
        if nc:  # a hidden block back to the flattened conv output, then the transposed convolutions
            dec = hidden * (nh + 1) + [("conv2d_t", c["hidden_act"])] * (nc - 1) + [("conv2d_t", c["output_act"])]
        return ([("encoder", j, k, a) for j, (k, a) in enumerate(enc)] +
                [("decoder", j, k, a) for j, (k, a) in enumerate(dec)])

    def _cell(self, prefix, xs):
        """A recurrent layer over xs [n, T, in] from a zero state: every state [n, T, H]."""
        cell, sig = self.config["rnn"], ACTIVATIONS["sigmoid"]
        w, b = self.tensors[prefix + ".weight"].astype(np.float64), self.tensors[prefix + ".bias"].astype(np.float64)
        hw = w.shape[0] // (4 if cell == "lstm" else 3)
        wi, wh = w[:, : w.shape[1] - hw], w[:, w.shape[1] - hw:]
        h, c, out = np.zeros((xs.shape[0], hw)), np.zeros((xs.shape[0], hw)), []
        for step in range(xs.shape[1]):
            gi, gh = xs[:, step] @ wi.T + b[0], h @ wh.T + b[1]
            if cell == "lstm":
                a = gi + gh
                c = sig(a[:, hw:2 * hw]) * c + sig(a[:, :hw]) * np.tanh(a[:, 2 * hw:3 * hw])
                h = sig(a[:, 3 * hw:]) * np.tanh(c)
            else:
                r, z = sig(gi[:, :hw] + gh[:, :hw]), sig(gi[:, hw:2 * hw] + gh[:, hw:2 * hw])
                n = np.tanh(gi[:, 2 * hw:] + r * gh[:, 2 * hw:])
                h = (1.0 - z) * n + z * h
            out.append(h)
        return np.stack(out, 1)

    def _rnn_layers(self):
        """A recurrent model's four layers as functions of rows (see the module's comment)."""
        c, t = self.config, self.tensors
        steps, feats = c["seq"]
        yield lambda a: self._cell("encoder.0", a.reshape(a.shape[0], steps, feats))[:, -1]
        w, b = (t["encoder.mu.weight"], t["encoder.mu.bias"]) if c["variational"] else \
            (t["encoder.1.weight"], t["encoder.1.bias"])
        yield lambda a, f=ACTIVATIONS[c["code_act"]]: f(a @ w.astype(np.float64).T + b)
        yield lambda a: self._cell("decoder.0", np.repeat(a[:, None, :], steps, 1)).reshape(a.shape[0], -1)
        w, b = t["decoder.1.weight"].astype(np.float64), t["decoder.1.bias"]
        hw = w.shape[1]
        yield lambda a, f=ACTIVATIONS[c["output_act"]]: f(a.reshape(-1, hw) @ w.T + b).reshape(a.shape[0], -1)

    def _layers(self):
        """Each layer as a function of its input rows (float64), in order."""
        c, t = self.config, self.tensors
        if c.get("rnn"):
            yield from self._rnn_layers()
            return
        seq = self._sequence()
        n_enc = sum(1 for s in seq if s[0] == "encoder")
        enc_dense = [j for s, j, k, _ in seq if s == "encoder" and k == "dense"]
        dec_seen = 0
        shapes, n_dec = conv_shapes(c), len(seq) - n_enc
        for i, (stack, j, kind, act) in enumerate(seq):
            f = ACTIVATIONS[act]
            if kind.startswith("conv"):  # encoder conv j, or the decoder's mirror of conv n_dec - 1 - j
                w, b = t[f"{stack}.{j}.weight"].astype(np.float64), t[f"{stack}.{j}.bias"]
                v = j if kind == "conv2d" else n_dec - 1 - j
                big, small, s = shapes[v], shapes[v + 1], c["conv"][v]["stride"]
                if kind == "conv2d":
                    yield lambda a, f=f, w=w, b=b, i=big, o=small, s=s: f(conv2d(a, w, b, i, o, s))
                else:
                    yield lambda a, f=f, w=w, b=b, i=small, o=big, s=s: f(conv2d_t(a, w, b, i, o, s))
                continue
            if kind == "batchnorm":  # inference: the running statistics
                g, b = t[f"{stack}.{j}.weight"], t[f"{stack}.{j}.bias"]
                rm, rv = t[f"{stack}.{j}.running_mean"], t[f"{stack}.{j}.running_var"]
                scale = g.astype(np.float64) / np.sqrt(rv.astype(np.float64) + 1e-5)
                yield lambda a, f=f, s=scale, rm=rm, b=b: f((a - rm) * s + b)
                continue
            if c["variational"] and i == n_enc - 1:  # the code is mu
                w, b = t["encoder.mu.weight"], t["encoder.mu.bias"]
            else:
                w, b = t.get(f"{stack}.{j}.weight"), t[f"{stack}.{j}.bias"]
                if w is None:  # tied: the mirror encoder dense layer's weight, transposed
                    w = t[f"encoder.{enc_dense[len(enc_dense) - 1 - dec_seen]}.weight"].T
            if stack == "decoder":
                dec_seen += 1  # decoder dense layers so far
            yield lambda a, f=f, w=w.astype(np.float64), b=b: f(a @ w.T + b)

    def _n_enc(self):
        if self.config.get("rnn"):
            return 2
        return sum(1 for s in self._sequence() if s[0] == "encoder")

    def _run(self, x, layers):
        a = np.asarray(x, dtype=np.float64)
        for layer in layers:
            a = layer(a)
        return a

    def _scale(self, x):
        off, sc = self.tensors.get("scaling.offset"), self.tensors.get("scaling.scale")
        x = np.asarray(x, dtype=np.float64)
        return x if off is None else (x - off.astype(np.float64)) / sc.astype(np.float64)

    def _unscale(self, y):
        off, sc = self.tensors.get("scaling.offset"), self.tensors.get("scaling.scale")
        return y if off is None else y * sc.astype(np.float64) + off.astype(np.float64)

    def encode(self, x):
        return self._run(self._scale(x), list(self._layers())[: self._n_enc()])

    def decode(self, z):
        return self._unscale(self._run(z, list(self._layers())[self._n_enc():]))

    def reconstruct(self, x):
        return self._unscale(self._run(self._scale(x), self._layers()))


def load(path):
    """Reads a libae model file (checksum verified) into a Model."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError("not a libae model: too short")
    (n,) = struct.unpack("<Q", blob[:8])
    if 8 + n > len(blob):
        raise ValueError("not a libae model: header length past the end")
    header = json.loads(blob[8:8 + n])
    data = blob[8 + n:]
    meta = header.pop("__metadata__", {})
    if meta.get("format") != "libae":
        raise ValueError("not a libae model")
    if int(meta["crc32"], 16) != zlib.crc32(data):
        raise ValueError("checksum mismatch")
    tensors = {}
    for name, e in header.items():
        if e["dtype"] != "F32":
            raise ValueError("unexpected dtype " + e["dtype"])
        begin, end = e["data_offsets"]
        tensors[name] = np.frombuffer(data[begin:end], dtype="<f4").reshape(e["shape"]).copy()
    m = Model(json.loads(meta["config"]), tensors)
    # A supervised head's kind and width, an anomaly threshold: kept for save().
    m.extra = {k: json.loads(meta[k]) for k in ("head", "anomaly", "scaling") if k in meta}
    return m


def save(path, config, tensors, extra=None):
    """Writes config (dict with at least input_dim, n_hidden, hidden, code_dim) and tensors
    (name -> array, converted to float32) as a libae model file that ae_load reads. extra:
    the "head", "anomaly" and "scaling" metadata of a loaded model (Model.extra), when its
    tensors include head.weight and head.bias, or scaling.offset and scaling.scale."""
    cfg = dict(CONFIG_DEFAULTS)
    cfg.update(config)
    cfg["seed"] = str(cfg["seed"])
    header, chunks, offset = {}, [], 0
    for name, t in tensors.items():
        a = np.ascontiguousarray(t, dtype="<f4")
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        chunks.append(a.tobytes())
        offset += a.nbytes
    data = b"".join(chunks)
    header["__metadata__"] = {"format": "libae", "format_version": "1",
                              "config": json.dumps(cfg, separators=(",", ":"), sort_keys=True),
                              "crc32": "%08x" % zlib.crc32(data)}
    for key, value in (extra or {}).items():
        header["__metadata__"][key] = json.dumps(value, separators=(",", ":"), sort_keys=True)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)
