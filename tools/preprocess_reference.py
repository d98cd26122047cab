#!/usr/bin/python3
"""Preprocess images with torchvision's own eval pipeline for Inception v3 (or, with --fid,
pytorch-fid's: ToTensor, then F.interpolate to crop x crop, bilinear, align_corners=False)
and save the batch as a float32 .npy of shape (N, 3, crop, crop): the reference for
jobs/image.c."""

import argparse

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision import transforms

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def transform_input(x):
    """Inception3's transform_input on a (3, H, W) tensor, channel by channel as
    torchvision writes it: x * std_c / 0.5 + (mean_c - 0.5) / 0.5."""
    channels = [
        x[c : c + 1] * (IMAGENET_STD[c] / 0.5) + (IMAGENET_MEAN[c] - 0.5) / 0.5 for c in range(3)
    ]
    return torch.cat(channels, 0)


def normalized_batch(paths, resize=342, crop=299):
    """torchvision's eval transform for Inception v3 up to Normalize (what its
    pretrained model, built with transform_input=True, takes): (N, 3, crop, crop)."""
    pipeline = transforms.Compose(
        [
            transforms.Resize(resize),
            transforms.CenterCrop(crop),
            transforms.ToTensor(),
            transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )
    batch = []
    for path in paths:
        with Image.open(path) as img:
            batch.append(pipeline(img.convert("RGB")))
    return torch.stack(batch)


def main():
    p = argparse.ArgumentParser(
        description="Resize (short side, bilinear), center crop, ToTensor, Normalize(ImageNet) "
        "and transform_input, as torchvision does for Inception v3; save (N, 3, crop, crop) "
        "float32 to OUT."
    )
    p.add_argument("--out", required=True, help="the .npy to write")
    p.add_argument("--resize", type=positive_int, default=342, help="short side after resizing")
    p.add_argument("--crop", type=positive_int, default=299, help="side of the center crop")
    p.add_argument(
        "--fid",
        action="store_true",
        help="pytorch-fid's preprocessing instead (its ImagePathDataset's PIL convert('RGB') and "
        "ToTensor, its InceptionV3's resize_input to crop x crop); --resize is not used",
    )
    p.add_argument("images", nargs="+", help="image files")
    args = p.parse_args()
    if args.fid:
        batch = []
        for path in args.images:
            with Image.open(path) as img:
                x = transforms.ToTensor()(img.convert("RGB")).unsqueeze(0)
            batch.append(F.interpolate(x, size=(args.crop, args.crop), mode="bilinear", align_corners=False))
        np.save(args.out, torch.cat(batch).numpy().astype(np.float32))
        return
    batch = normalized_batch(args.images, args.resize, args.crop)
    out = torch.stack([transform_input(x) for x in batch]).numpy().astype(np.float32)
    np.save(args.out, out)


if __name__ == "__main__":
    main()
