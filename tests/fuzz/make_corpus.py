#!/usr/bin/python3
"""Writes the fuzzers' seed corpora into tests/fuzz/corpus/<target>/ with our own tools
(tools/safetensors_io.py, numpy's .npy and .npz writers, PIL's encoders): small valid files and a few
slightly broken ones, named seed-*. The reproducers of bugs found (regression-*) are left alone.

usage: /usr/bin/python3 tests/fuzz/make_corpus.py"""

import io
import json
import os
import struct
import sys
import tempfile

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import torch  # noqa: E402  (after the path: safetensors_io needs it too)
from safetensors_io import save_safetensors  # noqa: E402

CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")
rng = np.random.default_rng(20240601)  # fixed, so that the corpus is the same on every run


def write(target, name, data):
    folder = os.path.join(CORPUS, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def clear(target):
    """Removes the generated seeds of target (the seed-* files), keeping the reproducers."""
    folder = os.path.join(CORPUS, target)
    if os.path.isdir(folder):
        for name in os.listdir(folder):
            if name.startswith("seed-"):
                os.remove(os.path.join(folder, name))


# ---- safetensors ------------------------------------------------------------------------------


def safetensors_bytes(tensors, metadata=None):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "t.safetensors")
        save_safetensors(path, tensors, metadata)
        with open(path, "rb") as f:
            return f.read()


def split(raw):
    """(header dict, data bytes) of a safetensors file."""
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + n]), raw[8 + n :]


def pack(header_text, data):
    """A safetensors file of the given header (JSON text) and data section."""
    return struct.pack("<Q", len(header_text)) + header_text + data


def make_safetensors():
    clear("safetensors")
    conv = {
        "Conv2d_1a_3x3.conv.weight": torch.randn(4, 3, 3, 3),
        "Conv2d_1a_3x3.bn.bias": torch.randn(4),
        "Conv2d_1a_3x3.bn.num_batches_tracked": torch.tensor(7, dtype=torch.int64),
    }
    mixed = {
        "half": torch.randn(2, 5).to(torch.float16),
        "brain": torch.randn(3, 1, 2).to(torch.bfloat16),
        "index": torch.arange(6, dtype=torch.int64).reshape(2, 3),
        "empty": torch.zeros(0, 4),
        "scalar": torch.tensor(1.5),
    }
    valid = {
        "f32": safetensors_bytes(conv),
        "mixed": safetensors_bytes(mixed, {"format": "pt", "source": "make_corpus.py"}),
        "f16-only": safetensors_bytes({"fc.weight": torch.randn(3, 4).to(torch.float16)}),
        "empty-file": safetensors_bytes({}, {}),
    }
    for name, raw in valid.items():
        write("safetensors", f"seed-valid-{name}", raw)

    header, data = split(valid["mixed"])

    def edited(change):
        h = json.loads(json.dumps(header))
        change(h)
        return pack(json.dumps(h).encode(), data)

    broken = {
        "truncated-data": valid["mixed"][:-3],
        "trailing-byte": valid["mixed"] + b"\0",
        "short-length": valid["f32"][:5],
        "header-too-long": struct.pack("<Q", 1 << 40) + valid["f32"][8:],
        "header-past-end": struct.pack("<Q", len(valid["f32"])) + valid["f32"][8:],
        "unknown-dtype": edited(lambda h: h["half"].update(dtype="F8")),
        "shape-overflow": edited(lambda h: h["half"].update(shape=[1 << 32, 1 << 32, 4])),
        "shape-negative": edited(lambda h: h["half"].update(shape=[-2, 5])),
        "offsets-reversed": edited(lambda h: h["half"].update(data_offsets=[20, 0])),
        "offsets-overlap": edited(lambda h: h["index"].update(data_offsets=[0, 48])),
        "offsets-float": edited(lambda h: h["half"].update(data_offsets=[0.0, 20])),
        "metadata-not-string": edited(lambda h: h["__metadata__"].update(format=1)),
        "entry-not-object": edited(lambda h: h.update({"half": [1, 2]})),
        "too-many-dims": edited(lambda h: h["half"].update(shape=[1] * 9)),
        "duplicate-name": pack(b'{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},'
                               b'"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}', b""),
        "bad-utf8": pack(b'{"\xff\xfe":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}', b""),
        "top-level-array": pack(b"[1, 2, 3]", b""),
    }
    for name, raw in broken.items():
        write("safetensors", f"seed-broken-{name}", raw)


# ---- npy --------------------------------------------------------------------------------------


def npy_bytes(array, version=None):
    f = io.BytesIO()
    np.lib.format.write_array(f, array, version=version, allow_pickle=False)
    return f.getvalue()


def npy_raw(header, data=b""):
    """A version 1.0 .npy of the given header text (padded as numpy pads it) and data."""
    text = header.encode()
    text += b" " * (-(10 + len(text) + 1) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + data


def make_npy():
    clear("npy")
    arrays = {
        "scalar": np.float32(2.5),
        "empty": np.zeros((0,), np.float32),
        "vector": rng.standard_normal(5).astype(np.float32),
        "matrix": rng.standard_normal((2, 3)).astype(np.float32),
        "image": rng.standard_normal((1, 3, 4, 4)).astype(np.float32),
        "zero-dim": np.zeros((2, 0, 3), np.float32),
    }
    for name, a in arrays.items():
        for version in [(1, 0), (2, 0), (3, 0)]:
            write("npy", f"seed-valid-v{version[0]}-{name}", npy_bytes(a, version))

    matrix = npy_bytes(arrays["matrix"])
    broken = {
        "fortran": npy_bytes(np.asfortranarray(arrays["matrix"])),
        "float64": npy_bytes(arrays["matrix"].astype(np.float64)),
        "big-endian": npy_bytes(arrays["matrix"].astype(">f4")),
        "int32": npy_bytes(np.arange(6, dtype=np.int32)),
        "truncated": matrix[:-1],
        "extra-byte": matrix + b"\0",
        "no-newline": matrix[:matrix.index(b"\n")] + b" " + matrix[matrix.index(b"\n") + 1 :],
        "version-4": matrix[:6] + b"\x04" + matrix[7:],
        "shape-overflow": npy_raw("{'descr': '<f4', 'fortran_order': False, "
                                  "'shape': (4294967296, 4294967296, 4), }"),
        "shape-negative": npy_raw("{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 2), }"),
        "unknown-key": npy_raw("{'descr': '<f4', 'fortran_order': False, 'shape': (), 'x': 1}",
                               b"\0\0\0\0"),
        "header-only": matrix[: matrix.index(b"\n") + 1],
    }
    for name, raw in broken.items():
        write("npy", f"seed-broken-{name}", raw)


# ---- images -----------------------------------------------------------------------------------


def encode(image, fmt, **options):
    f = io.BytesIO()
    image.save(f, fmt, **options)
    return f.getvalue()


def flip(data, i):
    """data with the bits of byte i inverted."""
    return data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :]


def make_images():
    clear("image")
    rgb = Image.fromarray(rng.integers(0, 256, (9, 13, 3), dtype=np.uint8), "RGB")
    x, y = np.meshgrid(np.arange(24) * 10, np.arange(17) * 15, indexing="xy")
    smooth = Image.fromarray(np.stack([x, y, np.full_like(x, 90)], axis=-1).astype(np.uint8), "RGB")
    grey = smooth.convert("L")
    rgba = smooth.convert("RGBA")
    rgba.putalpha(Image.fromarray((np.arange(17 * 24).reshape(17, 24) % 256).astype(np.uint8)))
    palette = smooth.convert("P", palette=Image.ADAPTIVE, colors=16)
    grey16 = Image.fromarray((np.arange(6 * 7).reshape(6, 7) * 1500).astype(np.uint16))
    images = {
        "png-rgb": encode(rgb, "PNG"),
        "png-grey": encode(grey, "PNG"),
        "png-grey-alpha": encode(smooth.convert("LA"), "PNG"),
        "png-rgba": encode(rgba, "PNG"),
        "png-palette": encode(palette, "PNG"),
        "png-1bit": encode(grey.convert("1"), "PNG"),
        "png-16bit": encode(grey16, "PNG"),
        "png-small": encode(rgb.resize((5, 3)), "PNG"),
        "png-1x1": encode(Image.new("RGB", (1, 1), (200, 10, 30)), "PNG"),
        "png-tall": encode(smooth.resize((1, 40)), "PNG"),
        "jpeg-rgb": encode(smooth, "JPEG", quality=70),
        "jpeg-444": encode(smooth, "JPEG", quality=90, subsampling=0),
        "jpeg-grey": encode(grey, "JPEG", quality=80),
        "jpeg-progressive": encode(smooth, "JPEG", quality=75, progressive=True),
        "jpeg-cmyk": encode(smooth.convert("CMYK"), "JPEG", quality=80),
        "jpeg-optimized": encode(rgb, "JPEG", quality=50, optimize=True),
        "bmp-rgb": encode(rgb, "BMP"),
        "bmp-palette": encode(palette, "BMP"),
        "bmp-grey": encode(grey.resize((5, 4)), "BMP"),
        "gif-palette": encode(palette, "GIF"),
        "gif-animated": encode(palette, "GIF", save_all=True,
                               append_images=[palette.transpose(Image.FLIP_LEFT_RIGHT)]),
        "tga-rgb": encode(rgb, "TGA"),
        "tga-rle": encode(rgb, "TGA", compression="tga_rle"),
        "ppm-rgb": encode(rgb, "PPM"),
        "pgm-grey": encode(grey.resize((6, 5)), "PPM"),
    }
    progressive = images["jpeg-progressive"]
    images.update({
        "broken-jpeg-truncated": progressive[: len(progressive) // 2],
        "broken-jpeg-header-only": images["jpeg-rgb"][:200],
        "broken-png-truncated": images["png-rgb"][:-20],
        "broken-png-chunk-type": flip(images["png-grey"], 40),  # the last letter of IDAT
        "broken-png-zlib": flip(images["png-grey"], 60),
        "broken-gif-truncated": images["gif-palette"][:-10],
        "broken-empty": b"",
    })
    # The harness takes a resize and a crop from the two bytes before the image (1 + byte % 64).
    sizes = [(64, 64), (1, 64), (64, 1), (8, 41), (21, 4), (32, 32)]
    for i, (name, data) in enumerate(sorted(images.items())):
        resize, crop = sizes[i % len(sizes)]
        write("image", f"seed-{name}", bytes([resize - 1, crop - 1]) + data)


# ---- FID statistics (.npz) -------------------------------------------------------------------


def npz_bytes(compressed=False, **arrays):
    f = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(f, **arrays)
    return f.getvalue()


def make_npz():
    clear("npz")
    x = rng.standard_normal((6, 4))
    mu, sigma = x.mean(axis=0), np.cov(x, rowvar=False)
    write("npz", "seed-valid-stored", npz_bytes(mu=mu, sigma=sigma))
    write("npz", "seed-valid-compressed", npz_bytes(True, mu=mu, sigma=sigma))
    write("npz", "seed-valid-float32-mu", npz_bytes(True, mu=mu.astype(np.float32), sigma=sigma))
    broken = {
        "no-sigma": npz_bytes(mu=mu),
        "not-square": npz_bytes(mu=mu, sigma=sigma[:, :3]),
        "other-dims": npz_bytes(mu=mu[:3], sigma=sigma),
        "nan": npz_bytes(mu=mu, sigma=np.full((4, 4), np.nan)),
        "ints": npz_bytes(mu=np.arange(4), sigma=sigma),
        "truncated": npz_bytes(True, mu=mu, sigma=sigma)[:-30],
    }
    for name, raw in broken.items():
        write("npz", f"seed-broken-{name}", raw)


if __name__ == "__main__":
    torch.manual_seed(20240601)
    make_safetensors()
    make_npy()
    make_images()
    make_npz()
