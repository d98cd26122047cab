#!/usr/bin/python3
"""pytorch-fid's own FID, for the tests: its InceptionV3 (resize_input,
normalize_input, use_fid_inception) around its fid_inception_v3() with the
weights of a .safetensors file (tools/make_reference.py --network fid writes
one) instead of the pt_inception download, its get_activations (float64
features), its calculate_frechet_distance and its statistics files. Prints
one JSON line: {"fid": VALUE}."""

import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_reference import fid_inception  # noqa: E402
from safetensors_io import load_safetensors  # noqa: E402


def fid_model(wheel, weights, dims):
    """pytorch-fid's InceptionV3 for `dims`, its FID Inception holding `weights`."""
    import pytorch_fid.inception as pfi

    inception = fid_inception(wheel)
    result = inception.load_state_dict(load_safetensors(weights), strict=False)
    missing = [k for k in result.missing_keys if not k.endswith("num_batches_tracked")]
    if missing or result.unexpected_keys:
        raise SystemExit(f"fid_reference.py: {weights}: missing {missing}, unexpected {result.unexpected_keys}")
    original = pfi.fid_inception_v3
    pfi.fid_inception_v3 = lambda: inception
    try:
        model = pfi.InceptionV3([pfi.InceptionV3.BLOCK_INDEX_BY_DIM[dims]])
    finally:
        pfi.fid_inception_v3 = original
    return model.eval()


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--pytorch-fid", required=True, metavar="WHEEL", help="pytorch-fid's wheel")
    p.add_argument("--weights", required=True, help="the FID Inception's .safetensors")
    p.add_argument("--dims", type=int, default=2048, choices=[64, 192, 768, 2048])
    # images of different sizes cannot share a batch in pytorch-fid (its DataLoader stacks them)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument(
        "--save-stats",
        action="store_true",
        help="write the statistics of A to B with pytorch-fid's save_fid_stats instead",
    )
    p.add_argument("a", help="a folder of images or an .npz of statistics")
    p.add_argument("b", help="the same, or the .npz to write with --save-stats")
    args = p.parse_args()
    torch.set_num_threads(2)
    sys.path.insert(0, args.pytorch_fid)
    import pytorch_fid.fid_score as fs

    model = fid_model(args.pytorch_fid, args.weights, args.dims)
    # save_fid_stats makes its own InceptionV3: this one instead
    def prebuilt(blocks):
        return model

    prebuilt.BLOCK_INDEX_BY_DIM = fs.InceptionV3.BLOCK_INDEX_BY_DIM
    fs.InceptionV3 = prebuilt
    if args.save_stats:
        fs.save_fid_stats([args.a, args.b], args.batch, "cpu", args.dims, num_workers=0)
        return
    stats = [fs.compute_statistics_of_path(path, model, args.batch, args.dims, "cpu", 0) for path in (args.a, args.b)]
    (m1, s1), (m2, s2) = [(np.asarray(m, np.float64), np.asarray(s, np.float64)) for m, s in stats]
    print(json.dumps({"fid": float(fs.calculate_frechet_distance(m1, s1, m2, s2))}))


if __name__ == "__main__":
    main()
