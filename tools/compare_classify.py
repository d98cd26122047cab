#!/usr/bin/python3
"""Check `clinception classify --json` output against torchvision's logits for
the same images: the same top-1 class and at least 4 of its top-5, per image."""

import argparse
import json
import sys

import numpy as np


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("reference", help="torchvision's logits, .npy (N, classes)")
    p.add_argument("classify", help="clinception classify --json --top 5 output, one line per image")
    p.add_argument("--labels", help="the labels file classify was given: each result's label must be its line")
    p.add_argument(
        "--image",
        action="append",
        default=[],
        help="the path each result must name, in order (repeatable)",
    )
    args = p.parse_args()
    try:
        ref = np.load(args.reference)
        with open(args.classify) as f:
            ours = [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError) as e:
        sys.exit(f"compare_classify.py: {e}")
    if ref.ndim != 2 or ref.shape[0] != len(ours):
        sys.exit(f"compare_classify.py: {ref.shape[0]} reference images but {len(ours)} results")
    labels = None
    if args.labels:
        with open(args.labels, encoding="utf-8") as f:
            labels = f.read().splitlines()
    if args.image and args.image != [r["image"] for r in ours]:
        sys.exit(f"compare_classify.py: results name {[r['image'] for r in ours]}, expected {args.image}")
    ok = True
    for i, result in enumerate(ours):
        if labels is not None and any(t["label"] != labels[t["class"]] for t in result["top"]):
            print(f"{result['image']}: labels {[t['label'] for t in result['top']]} are not the file's")
            ok = False
        want = np.argsort(-ref[i], kind="stable")[:5].tolist()
        got = [t["class"] for t in result["top"]][:5]
        shared = len(set(want) & set(got))
        good = got[:1] == want[:1] and shared >= 4
        ok &= good
        print(f"{result['image']}: torchvision top5 {want}, ours {got}: top-1 "
              f"{'same' if got[:1] == want[:1] else 'DIFFERS'}, {shared} of 5 shared")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
