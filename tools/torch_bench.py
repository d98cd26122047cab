#!/usr/bin/python3
"""Time PyTorch's own CPU forward of torchvision's Inception v3 (eval, random
weights) the way `clinception bench` times ours; print one JSON line with
batch, iters and median_ms (and p10/p90)."""

import argparse
import json

import torch
import torchvision

from forward_timing import add_timing_options, time_forwards


def main():
    p = argparse.ArgumentParser(description=__doc__)
    add_timing_options(p)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = torchvision.models.Inception3(aux_logits=False, init_weights=False).eval()
    x = torch.rand(args.batch, 3, args.size, args.size) * 2 - 1
    with torch.no_grad():
        figures = time_forwards(lambda: model(x), args.warmup, args.iters)
    print(json.dumps({"batch": args.batch, **figures, "torch": torch.__version__,
                      "threads": args.threads}))

if __name__ == "__main__":
    main()
