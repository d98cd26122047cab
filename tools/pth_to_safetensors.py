#!/usr/bin/python3
"""Convert a torchvision Inception v3 checkpoint (.pth state dict) into a
.safetensors file that clinception reads."""

import argparse
import os
import pickle
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import save_safetensors  # noqa: E402

KEEP_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.int64)
BUFFER_SUFFIXES = (".running_mean", ".running_var", ".num_batches_tracked")


def fail(message):
    print(f"pth_to_safetensors.py: error: {message}", file=sys.stderr)
    sys.exit(1)


def parse_args():
    p = argparse.ArgumentParser(
        description="Convert a PyTorch .pth state dict (e.g. torchvision's inception_v3_google-*.pth) to "
        ".safetensors. Accepts a plain state dict or a dict holding one under 'state_dict' or 'model'; "
        "strips a leading 'module.' (DataParallel) from names; keeps F32/F16/BF16 tensors as they are "
        "(F64 becomes F32)."
    )
    p.add_argument("input", metavar="IN.pth", help="checkpoint to read")
    p.add_argument("output", metavar="OUT.safetensors", help="file to write (overwritten)")
    p.add_argument(
        "--drop-aux",
        action="store_true",
        help="leave out AuxLogits.* and *.num_batches_tracked (unused in eval)",
    )
    p.add_argument(
        "--trust-pickle",
        action="store_true",
        help="unpickle arbitrary Python objects in the checkpoint (runs code from the file: only for "
        "files you trust); by default only tensors and plain containers are read",
    )
    return p.parse_args()


def load_checkpoint(path, trust_pickle):
    if not os.path.isfile(path):
        fail(f"{path}: no such file")
    try:
        return torch.load(path, map_location="cpu", weights_only=not trust_pickle)
    except pickle.UnpicklingError as e:
        hint = "" if trust_pickle else " (if it holds Python objects besides tensors and you trust it, add --trust-pickle)"
        fail(f"{path}: cannot read as a PyTorch checkpoint: {e}{hint}")
    except Exception as e:  # torch.load raises many kinds for a file that is not a checkpoint
        fail(f"{path}: cannot read as a PyTorch checkpoint: {type(e).__name__}: {e}")


def find_state_dict(path, checkpoint):
    """The name -> tensor mapping inside `checkpoint`."""
    if isinstance(checkpoint, dict):
        for key in ("state_dict", "model"):
            if isinstance(checkpoint.get(key), dict):
                checkpoint = checkpoint[key]
                break
    if not isinstance(checkpoint, dict) or not checkpoint:
        fail(f"{path}: not a state dict (found {type(checkpoint).__name__}, expected a non-empty dict of tensors)")
    for name, value in checkpoint.items():
        if not isinstance(name, str) or not isinstance(value, torch.Tensor):
            fail(f"{path}: not a state dict: entry {name!r} is a {type(value).__name__}, not a tensor")
    return checkpoint


def convert(path, state_dict, drop_aux):
    tensors = {}
    for name, t in state_dict.items():
        if name.startswith("module."):
            name = name[len("module.") :]
        if drop_aux and (name.startswith("AuxLogits.") or name.endswith(".num_batches_tracked")):
            continue
        if t.dtype == torch.float64:
            print(f"note: {name} is F64, written as F32")
            t = t.to(torch.float32)
        elif t.dtype not in KEEP_DTYPES:
            fail(f"{path}: tensor {name!r} has dtype {t.dtype}, which clinception cannot read")
        if name in tensors:
            fail(f"{path}: tensor {name!r} appears twice (with and without 'module.')")
        tensors[name] = t.detach().contiguous()
    return tensors


def main():
    args = parse_args()
    checkpoint = load_checkpoint(args.input, args.trust_pickle)
    tensors = convert(args.input, find_state_dict(args.input, checkpoint), args.drop_aux)
    if not tensors:
        fail(f"{args.input}: nothing left to write")
    try:
        save_safetensors(args.output, tensors)
    except OSError as e:
        fail(f"{args.output}: cannot write: {e.strerror}")
    params = sum(t.numel() for n, t in tensors.items() if not n.endswith(BUFFER_SUFFIXES))
    values = sum(t.numel() for t in tensors.values())
    dtypes = ", ".join(sorted({str(t.dtype).replace("torch.", "") for t in tensors.values()}))
    print(
        f"wrote {args.output}: {len(tensors)} tensors ({dtypes}), {params:,} parameters "
        f"({values:,} values with BatchNorm statistics), {os.path.getsize(args.output):,} bytes"
    )


if __name__ == "__main__":
    main()
