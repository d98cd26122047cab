#!/usr/bin/python3
"""Compare clinception's logits with a reference: relative L2 error and, per
image, whether the top-5 classes agree in order (exit 0 pass, 1 fail)."""

import argparse
import sys

import numpy as np


def fail(message):
    print(f"compare_logits.py: error: {message}", file=sys.stderr)
    sys.exit(1)


def parse_args():
    p = argparse.ArgumentParser(
        description="Print ||ours - ref|| / ||ref|| over all logits and, per image, whether the top-5 "
        "classes (in order) agree. Exit 0 if the error is at most --tol and every top-5 agrees, 1 otherwise."
    )
    p.add_argument("ref", metavar="REF.npy", help="reference logits, shape (N, classes) or (classes,)")
    p.add_argument("ours", metavar="OURS.npy", help="logits to check, same shape")
    p.add_argument("--tol", type=float, default=1e-4, help="largest relative L2 error that passes (default 1e-4)")
    p.add_argument(
        "--features",
        action="store_true",
        help="the arrays are a layer's outputs of any shape, (N, ...): only the relative L2 error counts",
    )
    return p.parse_args()


def load(path, features=False):
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        fail(f"{path}: cannot read as .npy: {e}")
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "fiu":
        fail(f"{path}: expected a numeric array")
    if features:
        return array.astype(np.float64)
    if array.ndim == 1:
        array = array[np.newaxis]
    if array.ndim != 2 or array.shape[1] < 5:
        fail(f"{path}: expected shape (N, classes) with at least 5 classes, got {array.shape}")
    return array.astype(np.float64)


def top5(row):
    return np.argsort(-row, kind="stable")[:5].tolist()


def main():
    args = parse_args()
    ref = load(args.ref, args.features)
    ours = load(args.ours, args.features)
    if ref.shape != ours.shape:
        fail(f"shapes differ: {args.ref} {ref.shape}, {args.ours} {ours.shape}")
    ok = True
    if not np.all(np.isfinite(ours)):
        print(f"{args.ours}: contains nan or inf")
        ok = False
    ref_norm = np.linalg.norm(ref)
    rel_err = np.linalg.norm(ours - ref) / ref_norm if ref_norm > 0 else float(np.linalg.norm(ours) > 0)
    print(f"relative L2 error {rel_err:.3e} (tol {args.tol:g}): {'ok' if rel_err <= args.tol else 'FAIL'}")
    ok = ok and bool(rel_err <= args.tol)
    for i in range(0 if args.features else ref.shape[0]):
        ref_top, our_top = top5(ref[i]), top5(ours[i])
        same = ref_top == our_top
        ok = ok and same
        print(f"image {i}: top5 ref {ref_top} ours {our_top}: {'same' if same else 'DIFFERENT'}")
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
