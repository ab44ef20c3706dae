#!/usr/bin/env python3
"""Writes the committed seed corpus of valid and malformed inputs for each fuzz target.

    python3 fuzz/make_corpus.py MODEL_DIR   # MODEL_DIR from build/tests/export_for_python

Inputs for fuzz_idx start after IDX's two zero bytes and inputs for fuzz_npy after the
"\\x93NUMPY" magic, since those targets put them back (see fuzz_idx.c, fuzz_npy.c). Inputs
for fuzz_range are a byte saying how the file is stored (0 as is, 1 gzip, 2 two gzip
members), then the file: the idx, npy and csv cases, written first, are its seeds."""
import gzip
import json
import os
import struct
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def metadata_crc(meta):
    """metadata_crc32 as the format defines it: CRC-32 over every other key in byte order,
    each as key NUL value NUL."""
    crc = 0
    for k in sorted(meta, key=lambda k: k.encode()):
        if k != "metadata_crc32":
            crc = zlib.crc32(k.encode() + b"\0" + str(meta[k]).encode() + b"\0", crc)
    return "%08x" % crc


def seal(h):
    """Recomputes metadata_crc32 when the header has one (files from before it have none)."""
    if "metadata_crc32" in h["__metadata__"]:
        h["__metadata__"]["metadata_crc32"] = metadata_crc(h["__metadata__"])
    return h


def model_cases(folder):
    for i in range(3):
        with open(os.path.join(folder, f"model{i}.safetensors"), "rb") as f:
            blob = f.read()
        put("model", f"valid{i}", blob)
    blob = open(os.path.join(folder, "model0.safetensors"), "rb").read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    data = blob[8 + n:]

    def rebuild(h, d=data, fix_crc=True, fix_meta=True):
        h = json.loads(json.dumps(h))
        if fix_crc:
            h["__metadata__"]["crc32"] = "%08x" % zlib.crc32(d)
        if fix_meta:  # so that a malformed case reaches the check it is for
            seal(h)
        text = json.dumps(h, separators=(",", ":")).encode()
        text += b" " * (-len(text) % 8)
        return struct.pack("<Q", len(text)) + text + d

    # truncated in every section
    for cut in (0, 4, 7, 8, 9, 8 + n // 2, 8 + n - 1, 8 + n, 8 + n + 1, len(blob) - 1):
        put("model", f"truncated_{cut}", blob[:cut])
    put("model", "trailing_bytes", blob + b"\0\0\0\0")
    put("model", "header_len_0", struct.pack("<Q", 0) + blob[8:])
    put("model", "header_len_max", b"\xff" * 8 + blob[8:])
    put("model", "header_len_past_end", struct.pack("<Q", len(blob)) + blob[8:])
    put("model", "wrong_checksum", rebuild(header, fix_crc=False)[:-1] + bytes([data[-1] ^ 1]))
    name = "encoder.0.weight"
    cases = {
        "shape_overflow": ("shape", [2 ** 62, 2 ** 62]),
        "shape_negative": ("shape", [-9, 12]),
        "shape_huge": ("shape", [2 ** 40, 1]),
        "shape_3d": ("shape", [9, 12, 1]),
        "dtype_unknown": ("dtype", "Q7"),
        "dtype_f16": ("dtype", "F16"),
        "offsets_overlap": ("data_offsets", [0, 9 * 12 * 4 + 4]),
        "offsets_out_of_range": ("data_offsets", [len(data), len(data) + 432]),
        "offsets_reversed": ("data_offsets", [432, 0]),
        "offsets_negative": ("data_offsets", [-432, 0]),
        "offsets_huge": ("data_offsets", [2 ** 63 - 8, 2 ** 63 - 1]),
    }
    for case, (field, value) in cases.items():
        h = json.loads(json.dumps(header))
        h[name][field] = value
        put("model", case, rebuild(h))
    h = json.loads(json.dumps(header))
    h["extra.tensor"] = h[name]
    put("model", "unknown_tensor", rebuild(h))
    h = json.loads(json.dumps(header))
    del h["decoder.0.bias"]
    put("model", "missing_tensor", rebuild(h))
    # duplicate keys: written by hand, json.dumps cannot
    text = json.dumps(header, separators=(",", ":"))
    dup = text[:-1] + ',"' + name + '":' + json.dumps(header[name], separators=(",", ":")) + "}"
    dup = dup.encode() + b" " * (-len(dup) % 8)
    put("model", "duplicate_key", struct.pack("<Q", len(dup)) + dup + data)
    cfg = json.loads(header["__metadata__"]["config"])
    for case, key, value in [("config_input_dim_0", "input_dim", 0), ("config_n_hidden_99", "n_hidden", 99),
                             ("config_act_unknown", "hidden_act", "swish"), ("config_width_huge", "code_dim", 2 ** 40),
                             ("config_seed_negative", "seed", "-1"), ("config_tied_7", "tied_weights", 7),
                             ("config_huge_model_small_file", "input_dim", 2 ** 24)]:
        c = dict(cfg)
        c[key] = value
        h = json.loads(json.dumps(header))
        h["__metadata__"]["config"] = json.dumps(c)
        put("model", case, rebuild(h))
    h = json.loads(json.dumps(header))
    h["__metadata__"]["format"] = "other"
    put("model", "format_not_libae", rebuild(h))
    put("model", "not_json", struct.pack("<Q", 8) + b"[1,2,3] " + data)
    metadata_cases(header, rebuild)
    head_cases(header, data, cfg)


def metadata_cases(header, rebuild):
    """metadata_crc32: valid and damaged, files from before it, keys added later."""
    assert "metadata_crc32" in header["__metadata__"], "MODEL_DIR holds files from before metadata_crc32"

    def edited(change, fix_meta):
        h = json.loads(json.dumps(header))
        change(h["__metadata__"])
        return rebuild(h, fix_meta=fix_meta)

    def config_seed(m):
        c = json.loads(m["config"])
        c["seed"] = str(int(c["seed"]) + 1)
        m["config"] = json.dumps(c, separators=(",", ":"), sort_keys=True)

    put("model", "meta_crc_config_changed", edited(config_seed, False))
    put("model", "meta_crc_config_resealed", edited(config_seed, True))
    put("model", "meta_crc_wrong", edited(lambda m: m.update(metadata_crc32="00000000"), False))
    put("model", "meta_crc_not_hex", edited(lambda m: m.update(metadata_crc32="0000000g"), False))
    put("model", "meta_crc_short", edited(lambda m: m.update(metadata_crc32="123"), False))
    put("model", "meta_crc_not_string", edited(lambda m: m.update(metadata_crc32=7), False))
    put("model", "meta_value_not_string", edited(lambda m: m.update(later=1), True))
    put("model", "meta_later_key_sealed", edited(lambda m: m.update(later='{"x":1}'), True))
    put("model", "meta_later_key_unsealed", edited(lambda m: m.update(later='{"x":1}'), False))
    put("model", "meta_old_file", edited(lambda m: m.pop("metadata_crc32"), False))
    put("model", "meta_old_file_unknown_key",
        edited(lambda m: (m.pop("metadata_crc32"), m.update(scalinx=m.pop("scaling"))), False))
    put("model", "meta_key_renamed", edited(lambda m: m.update(scalinx=m.pop("scaling")), False))
    put("model", "meta_300_keys", edited(lambda m: m.update({"k%03d" % i: "" for i in range(300)}), True))


def head_cases(header, data, cfg):
    """A supervised head (head.weight, head.bias, metadata "head") and an anomaly threshold
    (metadata "anomaly") added to model0, valid and malformed."""
    k, c = cfg["code_dim"], 3

    def with_head(meta_head, meta_anomaly, rows=c, cols=k, extra=b""):
        h = json.loads(json.dumps(header))
        d = data + struct.pack("<%df" % (rows * cols + rows), *([0.01] * (rows * cols + rows))) + extra
        off = len(data)
        h["head.weight"] = {"dtype": "F32", "shape": [rows, cols], "data_offsets": [off, off + rows * cols * 4]}
        off += rows * cols * 4
        h["head.bias"] = {"dtype": "F32", "shape": [rows], "data_offsets": [off, off + rows * 4]}
        if meta_head is not None:
            h["__metadata__"]["head"] = meta_head if isinstance(meta_head, str) else json.dumps(meta_head)
        if meta_anomaly is not None:
            h["__metadata__"]["anomaly"] = (meta_anomaly if isinstance(meta_anomaly, str)
                                            else json.dumps(meta_anomaly))
        h["__metadata__"]["crc32"] = "%08x" % zlib.crc32(d)
        seal(h)
        text = json.dumps(h, separators=(",", ":")).encode()
        text += b" " * (-len(text) % 8)
        return struct.pack("<Q", len(text)) + text + d

    head = {"kind": "softmax", "outputs": c}
    anomaly = {"method": "quantile", "param": 0.95, "threshold": 0.0125}
    put("model", "valid_head_threshold", with_head(head, anomaly))
    put("model", "head_kind_unknown", with_head({"kind": "svm", "outputs": c}, None))
    put("model", "head_outputs_0", with_head({"kind": "linear", "outputs": 0}, None))
    put("model", "head_outputs_huge", with_head({"kind": "linear", "outputs": 2 ** 40}, None))
    put("model", "head_softmax_one_class", with_head({"kind": "softmax", "outputs": 1}, None, rows=1))
    put("model", "head_outputs_mismatch", with_head({"kind": "softmax", "outputs": c + 1}, None))
    put("model", "head_width_mismatch", with_head(head, None, cols=k + 1))
    put("model", "head_metadata_missing", with_head(None, None))
    put("model", "head_metadata_not_json", with_head("{kind", None))
    put("model", "head_extra_key", with_head(dict(head, hidden=2), None))
    put("model", "anomaly_method_unknown", with_head(head, dict(anomaly, method="median")))
    put("model", "anomaly_param_negative", with_head(head, dict(anomaly, param=-1)))
    put("model", "anomaly_threshold_string", with_head(head, dict(anomaly, threshold="0.1")))
    put("model", "anomaly_threshold_huge", with_head(head, dict(anomaly, threshold=1e300)))
    put("model", "anomaly_missing_key", with_head(head, {"method": "manual", "param": 0}))


def idx_cases():
    def idx(t, dims, payload):
        return bytes([t, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + payload
    put("idx", "valid_images", idx(8, [2, 2, 3], bytes(range(12))))
    put("idx", "valid_labels", idx(8, [3], b"\x01\x02\x09"))
    put("idx", "valid_float", idx(0x0D, [1, 2], struct.pack(">ff", 1.5, -2.0)))
    put("idx", "valid_double", idx(0x0E, [1, 1], struct.pack(">d", 3.25)))
    put("idx", "valid_int16", idx(0x0B, [2], struct.pack(">hh", -2, 300)))
    put("idx", "truncated", idx(8, [2, 2, 3], bytes(range(11))))
    put("idx", "trailing", idx(8, [2, 2, 3], bytes(range(13))))
    put("idx", "zero_dim", idx(8, [2, 0, 3], b""))
    put("idx", "dims_overflow", idx(8, [0xFFFFFFFF] * 3, b"\x01\x02"))
    put("idx", "dims_huge", idx(0x0E, [0x7FFFFFFF, 0x7FFFFFFF], b"\x01"))
    put("idx", "unknown_type", idx(7, [1], b"\x01"))
    put("idx", "no_dims", bytes([8, 0]))
    put("idx", "nine_dims", bytes([8, 9]) + b"\0\0\0\1" * 9 + b"\x05")
    put("idx", "header_only", bytes([8]))


def npy_cases():
    def npy(header, payload, version=1):
        h = header.encode()
        if version == 1:
            return bytes([1, 0]) + struct.pack("<H", len(h)) + h + payload
        return bytes([version, 0]) + struct.pack("<I", len(h)) + h + payload
    f4 = struct.pack("<6f", 1, 2, 3, 4, 5, 6)
    good = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n"
    put("npy", "valid_f4", npy(good, f4))
    put("npy", "valid_v2", npy(good, f4, 2))
    put("npy", "valid_f8_1d", npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", struct.pack("<2d", 1, 2)))
    put("npy", "valid_u1_3d", npy("{'descr': '|u1', 'fortran_order': False, 'shape': (1, 2, 2), }", b"\x00\x01\x02\xff"))
    put("npy", "header_len_huge", bytes([2, 0]) + b"\xff\xff\xff\xff" + good.encode() + f4)
    put("npy", "header_len_past_end", bytes([1, 0]) + struct.pack("<H", 4000) + good.encode())
    for name, header in [("object_dtype", "{'descr': '|O', 'fortran_order': False, 'shape': (2, 3), }"),
                         ("fortran", "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }"),
                         ("unknown_dtype", "{'descr': '<c8', 'fortran_order': False, 'shape': (2, 3), }"),
                         ("shape_overflow", "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }"),
                         ("shape_negative", "{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 3), }"),
                         ("shape_huge_digits", "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999, 3), }"),
                         ("duplicate_key", "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"),
                         ("unterminated", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3"),
                         ("not_a_dict", "[1, 2, 3]")]:
        put("npy", name, npy(header, f4))
    put("npy", "data_short", npy(good, f4[:-1]))
    put("npy", "version_9", npy(good, f4, 9))


def csv_cases():
    put("csv", "valid_header", b"a,b,c\n1,2,3\n4.5,-5e-1,6\n")
    put("csv", "valid_spaces_crlf", b"  1   2\r\n3 4\r\n")
    put("csv", "valid_tabs", b"1\t2\n3\t4")
    put("csv", "valid_gzip", gzip.compress(b"1,2\n3,4\n", mtime=0))
    put("csv", "ragged", b"1,2,3\n4,5\n")
    put("csv", "non_numeric", b"1,2\n3,x\n")
    put("csv", "empty_field", b"1,,2\n")
    put("csv", "trailing_separator", b"1,2,\n")
    put("csv", "only_header", b"a,b\n")
    put("csv", "blank", b"\n\n  \n")
    put("csv", "binary", b"1,2\x01\n")
    put("csv", "nan_inf", b"nan,inf\n-inf,1\n")
    put("csv", "gzip_truncated", gzip.compress(b"1,2\n3,4\n", mtime=0)[:-6])
    put("csv", "long_field", b"1" * 400 + b",2\n")
    put("csv", "valid_bare_cr", b"1,2,3\r4,5,6\r")
    put("csv", "valid_decimal_comma", b"a;b\n1,5;2,5\n-3,25;4e1\n")
    put("csv", "valid_tab_header", b"x\ty\n1\t2\n3\t4\n")
    put("csv", "valid_pandas_index", b",a,b\n0,1.5,2\n1,3,4\n2,5,6\n")
    put("csv", "valid_quoted", b'"a","b,c"\n"1",2\n3,"4"\n')
    put("csv", "hex", b"1,2\n0x10,3\n")
    put("csv", "hex_float", b"0x1p3,1\n")
    put("csv", "nan_payload", b"nan(123),1\n")
    put("csv", "float_overflow", b"1,2\n1e39,3\n")
    put("csv", "quote_open", b'1,"2\n3,4\n')
    put("csv", "quote_trailing_text", b'1,"2"x\n')
    put("csv", "two_decimal_marks", b"1,5,0;2\n")


def csvopts_cases():
    """fuzz_csvopts: delimiter, header, index bytes; columns, drop, label strings; the text."""
    def opts(delim, header, index, columns, drop, label, text):
        # header and index_column are byte % 3 - 1: 0 -> -1 (detect), 1 -> 0, 2 -> 1
        return bytes([delim, header + 1, index + 1]) + columns + b"\0" + drop + b"\0" + label + b"\0" + text
    pandas = b",a,b,diagnosis\n0,0.1,0.2,benign\n1,0.3,0.4,malignant\n2,0.5,0.6,benign\n"
    put("csvopts", "defaults", opts(0, -1, -1, b"", b"", b"", pandas.replace(b",benign", b",1").replace(b",malignant", b",0")))
    put("csvopts", "label_text", opts(0, -1, -1, b"", b"", b"diagnosis", pandas))
    put("csvopts", "label_number", opts(0, -1, -1, b"", b"", b"4", pandas))
    put("csvopts", "columns_order", opts(0, -1, -1, b"b,a", b"", b"diagnosis", pandas))
    put("csvopts", "columns_range", opts(0, 1, 0, b"2-3", b"", b"", pandas))
    put("csvopts", "drop_names", opts(0, -1, -1, b"", b"diagnosis,a", b"", pandas))
    put("csvopts", "label_missing", opts(0, -1, -1, b"", b"", b"nope", pandas))
    put("csvopts", "column_out_of_range", opts(0, -1, -1, b"9", b"", b"", pandas))
    put("csvopts", "listed_twice", opts(0, -1, -1, b"a,2", b"", b"", pandas))
    put("csvopts", "semicolon", opts(ord(";"), 1, 0, b"", b"", b"y", b"a;y\n1,5;x\n2,5;z\n"))
    put("csvopts", "tab_no_header", opts(ord("\t"), 0, 0, b"1", b"", b"2", b"1\t2\n3\t4\n"))
    put("csvopts", "blanks_index", opts(ord(" "), 0, 1, b"", b"", b"", b"0 1 2\n1 3 4\n"))
    put("csvopts", "no_features_left", opts(0, -1, -1, b"", b"a,b", b"diagnosis", pandas))
    put("csvopts", "bad_delimiter", opts(ord('"'), -1, -1, b"", b"", b"", b"1,2\n"))


def range_cases():
    """Every idx, npy and csv case as a whole file, as is; the valid ones gzip'd too."""
    prefix = {"idx": b"\0\0", "npy": b"\x93NUMPY", "csv": b""}
    for t in ("idx", "npy", "csv"):
        d = os.path.join(HERE, "corpus", t)
        for name in sorted(os.listdir(d)):
            with open(os.path.join(d, name), "rb") as f:
                data = prefix[t] + f.read()
            modes = (0, 1, 2) if name.startswith("valid") else (0,)
            for m in modes:
                put("range", f"{t}_{name}_{m}", bytes([m]) + data)
    rows = bytes([0, 0, 8, 3]) + struct.pack(">III", 7, 2, 3) + bytes(range(42))
    put("range", "idx_seven_rows_0", b"\0" + rows)
    put("range", "idx_seven_rows_2", b"\2" + rows)
    put("range", "idx_seven_rows_cut_1", b"\1" + rows[:-5])


def stream_cases():
    """range's cases for the in-order reader: a second byte for the rows a block (1, 2, 5)."""
    d = os.path.join(HERE, "corpus", "range")
    for i, name in enumerate(sorted(os.listdir(d))):
        with open(os.path.join(d, name), "rb") as f:
            data = f.read()
        put("stream", name, data[:1] + bytes([(0, 1, 4)[i % 3]]) + data[1:])
    # a CSV longer than the reader's first buffer (256 KiB), CRLF, a BOM and pandas' index
    lines = [b"\xef\xbb\xbf,a,b,c"] + [b"%d,%d.5,-%d,%d" % (r, r % 97, r % 13, r) for r in range(20000)]
    put("stream", "csv_long_pandas", b"\0\x1f" + b"\r\n".join(lines) + b"\r\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    model_cases(sys.argv[1])
    idx_cases()
    npy_cases()
    csv_cases()
    csvopts_cases()
    range_cases()
    stream_cases()
    for t in ("model", "idx", "npy", "csv", "csvopts", "range", "stream"):
        print(t, len(os.listdir(os.path.join(HERE, "corpus", t))), "files")
