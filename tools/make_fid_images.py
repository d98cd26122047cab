#!/usr/bin/python3
"""Write a folder of seeded synthetic images for the FID tests: smooth colour
fields with noise, of varied sizes and aspect ratios, as PNG and JPEG. Same
arguments give the same files."""

import argparse
import os

import numpy as np
from PIL import Image


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", required=True, help="the folder to write (created if missing)")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--count", type=int, default=12)
    p.add_argument("--tint", type=float, default=0.0, help="shifts the colours (another distribution)")
    p.add_argument("--size", type=int, default=0, help="every image SIZE x SIZE (default: 40 to 400 a side)")
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    for i in range(args.count):
        w, h = int(rng.integers(40, 400)), int(rng.integers(40, 400))
        if args.size:
            w = h = args.size
        y, x = np.mgrid[0:h, 0:w]
        f = rng.uniform(0.5, 6.0, size=3)
        phase = rng.uniform(0, 6.3, size=3)
        planes = [
            0.5 + 0.4 * np.sin(f[c] * (x / w + (c + 1) * y / h) * np.pi + phase[c]) + args.tint * (c - 1)
            for c in range(3)
        ]
        img = np.stack(planes, axis=-1) + rng.normal(0, 0.08, size=(h, w, 3))
        pixels = (np.clip(img, 0, 1) * 255).round().astype(np.uint8)
        ext = "png" if i % 2 == 0 else "jpg"
        Image.fromarray(pixels).save(os.path.join(args.out, f"img{i:03d}.{ext}"), quality=90)


if __name__ == "__main__":
    main()
