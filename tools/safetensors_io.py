#!/usr/bin/python3
"""Minimal .safetensors writer and reader for torch tensors, written by hand
because Debian ships no `safetensors` package (used by the reference tools)."""

import json
import struct

import numpy as np
import torch

# torch dtype -> (safetensors dtype string, numpy dtype of the raw bytes).
# bfloat16 has no numpy type: its bytes travel as little-endian int16.
_DTYPES = {
    torch.float32: ("F32", np.dtype("<f4")),
    torch.float16: ("F16", np.dtype("<f2")),
    torch.bfloat16: ("BF16", np.dtype("<i2")),
    torch.int64: ("I64", np.dtype("<i8")),
    torch.float64: ("F64", np.dtype("<f8")),
}
_BY_NAME = {name: (torch_dtype, np_dtype) for torch_dtype, (name, np_dtype) in _DTYPES.items()}

_MAX_HEADER = 100_000_000


def _tensor_bytes(name, t):
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"tensor {name!r}: expected a torch.Tensor, got {type(t).__name__}")
    if t.dtype not in _DTYPES:
        supported = ", ".join(str(d) for d in _DTYPES)
        raise TypeError(f"tensor {name!r}: dtype {t.dtype} is not supported (supported: {supported})")
    t = t.detach().to("cpu").contiguous()
    dtype_name, np_dtype = _DTYPES[t.dtype]
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return dtype_name, t.numpy().astype(np_dtype, copy=False).tobytes()


def save_safetensors(path, tensors, metadata=None):
    """Write `tensors` (name -> torch.Tensor) to `path` in safetensors format.

    Tensors are stored in the dict's order; `metadata` (str -> str) goes in
    "__metadata__" and defaults to {"format": "pt"}. The JSON header is padded
    with spaces so the data starts 8-byte aligned."""
    if metadata is None:
        metadata = {"format": "pt"}
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"metadata must map str to str, got {key!r}: {value!r}")
    header = {}
    blobs = []
    offset = 0
    for name, t in tensors.items():
        if not isinstance(name, str) or not name or name == "__metadata__":
            raise ValueError(f"invalid tensor name {name!r}")
        dtype_name, blob = _tensor_bytes(name, t)
        header[name] = {
            "dtype": dtype_name,
            "shape": [int(d) for d in t.shape],
            "data_offsets": [offset, offset + len(blob)],
        }
        blobs.append(blob)
        offset += len(blob)
    header["__metadata__"] = dict(metadata)
    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    header_bytes += b" " * (-len(header_bytes) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header_bytes)))
        f.write(header_bytes)
        for blob in blobs:
            f.write(blob)


def read_header(path):
    """Return (header dict, data start offset, file size) of a safetensors file."""
    with open(path, "rb") as f:
        raw = f.read()
    return _parse_header(path, raw)[:2] + (len(raw),)


def _no_duplicates(pairs):
    result = {}
    for key, value in pairs:
        if key in result:
            raise json.JSONDecodeError(f"duplicate key {key!r}", "", 0)
        result[key] = value
    return result


def _parse_header(path, raw):
    if len(raw) < 8:
        raise ValueError(f"{path}: file too short for a safetensors header ({len(raw)} bytes)")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > _MAX_HEADER or 8 + n > len(raw):
        raise ValueError(f"{path}: header length {n} is too large or past the end of the file")
    try:
        header = json.loads(raw[8 : 8 + n].decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: header is not valid UTF-8 JSON: {e}") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path}: header is not a JSON object")
    return header, 8 + n, raw


def load_safetensors(path):
    """Read a safetensors file into a dict name -> torch.Tensor (CPU, file order).

    Checks dtypes, shapes against byte sizes, and that the tensors cover the
    data exactly without overlap; raises ValueError naming the file and tensor."""
    with open(path, "rb") as f:
        raw = f.read()
    header, start, _ = _parse_header(path, raw)
    data_len = len(raw) - start
    entries = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype_name = info["dtype"]
            shape = [int(d) for d in info["shape"]]
            begin, end = (int(o) for o in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{path}: tensor {name!r}: malformed entry {info!r}") from None
        if dtype_name not in _BY_NAME:
            raise ValueError(f"{path}: tensor {name!r}: unknown dtype {dtype_name!r}")
        torch_dtype, np_dtype = _BY_NAME[dtype_name]
        if any(d < 0 for d in shape):
            raise ValueError(f"{path}: tensor {name!r}: negative dimension in shape {shape}")
        nbytes = int(np.prod(shape, dtype=object)) * np_dtype.itemsize
        if not 0 <= begin <= end <= data_len or end - begin != nbytes:
            raise ValueError(
                f"{path}: tensor {name!r}: offsets [{begin}, {end}] do not fit shape {shape} "
                f"of {dtype_name} ({nbytes} bytes) in {data_len} data bytes"
            )
        entries.append((begin, end, name, torch_dtype, np_dtype, shape))
    position = 0
    for begin, end, name, *_ in sorted(entries, key=lambda e: (e[0], e[1])):
        if begin != position:
            raise ValueError(f"{path}: tensor {name!r}: data starts at {begin}, expected {position} (hole or overlap)")
        position = end
    if position != data_len:
        raise ValueError(f"{path}: tensors cover {position} of {data_len} data bytes")
    tensors = {}
    for begin, end, name, torch_dtype, np_dtype, shape in entries:
        array = np.frombuffer(raw, dtype=np_dtype, count=(end - begin) // np_dtype.itemsize, offset=start + begin)
        t = torch.from_numpy(array.astype(np_dtype.newbyteorder("="), copy=True)).reshape(shape)
        if torch_dtype == torch.bfloat16:
            t = t.view(torch.bfloat16)
        tensors[name] = t
    return tensors
