#!/usr/bin/python3
"""Write an end-to-end test case: a seeded random torchvision Inception3 (or
pytorch-fid's FID Inception, --network fid) as model.safetensors, a seeded
input.npy (or images preprocessed as torchvision does), and its float64
reference logits.npy."""

import argparse
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from preprocess_reference import normalized_batch  # noqa: E402
from safetensors_io import save_safetensors  # noqa: E402

SAVE_DTYPES = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}
# BN statistics come from a separate seeded batch of about 4 images' worth of
# 299x299 pixels: more images for small inputs, whose last blocks are 1x1.
CALIBRATION_PIXELS = 4 * 299 * 299
MAX_CALIBRATION_IMAGES = 64
AUX_INPUT_SIZE = 17  # AuxLogits expects Mixed_6e's 17x17 map (299x299 input)


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def parse_args():
    p = argparse.ArgumentParser(
        description="Write DIR/model.safetensors (seeded random Inception v3 with data-dependent, "
        "perturbed BatchNorm statistics), DIR/input.npy (float32, N x 3 x H x W) and DIR/logits.npy "
        "(float64, N x classes: torchvision's eval forward in float64). Same arguments give "
        "byte-identical files."
    )
    p.add_argument("--out", required=True, help="output folder (created if missing)")
    p.add_argument("--seed", type=int, required=True, help="seed for weights, statistics and input")
    p.add_argument("--batch", type=positive_int, default=1, help="images in the input (default 1)")
    p.add_argument("--height", type=positive_int, default=299, help="input height, at least 75 (default 299)")
    p.add_argument("--width", type=positive_int, default=299, help="input width, at least 75 (default 299)")
    p.add_argument(
        "--no-aux",
        action="store_true",
        help="leave out AuxLogits.* and *.num_batches_tracked (like timm's inception_v3.tv_in1k file)",
    )
    p.add_argument(
        "--classes",
        type=positive_int,
        default=1000,
        help="classes of the fc head (default 1000; another count is a fine-tuned head, "
        "fc = nn.Linear(2048, K)); needs at least 6",
    )
    p.add_argument(
        "--features",
        action="append",
        default=[],
        metavar="LAYER",
        help="also write DIR/features_LAYER.npy (float64): the output of the module of that "
        "name (e.g. avgpool, Mixed_6b, Mixed_5d.branch3x3dbl_2), avgpool's as (N, 2048); repeatable",
    )
    p.add_argument(
        "--transform-input",
        action="store_true",
        help="build the model with transform_input=True (ImageNet re-normalisation in the model)",
    )
    p.add_argument(
        "--network",
        choices=["inception_v3", "fid"],
        default="inception_v3",
        help="inception_v3 (torchvision's Inception3, the default) or fid: pytorch-fid's own "
        "fid_inception_v3() (1008 classes, no aux head), built by its code from --pytorch-fid "
        "with its weight download replaced by the seeded weights",
    )
    p.add_argument(
        "--pytorch-fid",
        metavar="WHEEL",
        help="pytorch-fid's wheel or unpacked folder (for --network fid)",
    )
    p.add_argument(
        "--dtype",
        choices=sorted(SAVE_DTYPES),
        default="f32",
        help="dtype of the saved float tensors (default f32); for f16/bf16 the reference uses the rounded weights",
    )
    p.add_argument(
        "--image",
        action="append",
        metavar="PATH",
        help="use this photo (repeatable) instead of random input: torchvision's eval transform "
        "(Resize 342, CenterCrop 299, Normalize) into a model built with transform_input=True, as "
        "for its pretrained weights; sets the batch and size (299x299)",
    )
    args = p.parse_args()
    if args.image:
        args.batch, args.height, args.width = len(args.image), 299, 299
        args.transform_input = True
    if args.height < 75 or args.width < 75:
        p.error(f"input {args.height}x{args.width} is too small: Inception v3 needs at least 75x75")
    if args.seed < 0:
        p.error("--seed must be >= 0")
    if args.classes < 6:
        p.error("--classes must be at least 6 (the check compares the top 6)")
    if args.network == "fid":
        if not args.pytorch_fid:
            p.error("--network fid needs --pytorch-fid WHEEL")
        if args.image or args.transform_input or args.classes != 1000:
            p.error("--network fid takes none of --image, --transform-input, --classes")
        args.classes = 1008
        args.no_aux = True
    return args


def fid_inception(wheel):
    """pytorch-fid's fid_inception_v3(), by its own code, with its download of
    pt_inception-2015-12-05 replaced by nothing: the caller seeds the weights."""
    sys.path.insert(0, wheel)
    import pytorch_fid.inception as pfi

    original_url, original_load = pfi.load_state_dict_from_url, torchvision.models.Inception3.load_state_dict
    pfi.load_state_dict_from_url = lambda *args, **kwargs: None
    torchvision.models.Inception3.load_state_dict = lambda self, state, *args, **kwargs: None
    try:
        return pfi.fid_inception_v3()
    finally:
        pfi.load_state_dict_from_url = original_url
        torchvision.models.Inception3.load_state_dict = original_load


def sub_generators(seed, count):
    """Independent generators for each random stream, all derived from `seed`."""
    master = torch.Generator().manual_seed(seed)
    seeds = torch.randint(0, 2**62, (count,), generator=master, dtype=torch.int64).tolist()
    return [torch.Generator().manual_seed(s) for s in seeds]


def uniform(shape, low, high, gen):
    return torch.rand(shape, generator=gen) * (high - low) + low


@torch.no_grad()
def init_weights(model, gen):
    """He-normal convs, small-normal linears, BN gamma/beta uniform."""
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Conv2d):
            fan_in = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
            module.weight.copy_(torch.randn(module.weight.shape, generator=gen) * math.sqrt(2.0 / fan_in))
        elif isinstance(module, torch.nn.Linear):
            module.weight.copy_(torch.randn(module.weight.shape, generator=gen) / math.sqrt(module.in_features))
            module.bias.copy_(torch.randn(module.bias.shape, generator=gen) * 0.1)
        elif isinstance(module, torch.nn.BatchNorm2d):
            module.weight.copy_(uniform(module.weight.shape, 0.5, 1.5, gen))
            module.bias.copy_(uniform(module.bias.shape, -0.2, 0.2, gen))


@torch.no_grad()
def calibrate_batchnorm(model, calibration, gen):
    """Set every BN's running stats to those of `calibration` (train-mode forward),
    then perturb them per channel so folding bugs cannot hide."""
    batchnorms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for bn in batchnorms:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average: after one batch, exactly its statistics
    # AuxLogits needs a 17x17 map, which small inputs do not give: calibrate it
    # on Mixed_6e's output resized to 17x17, apart from the main forward.
    aux = model.AuxLogits
    captured = {}
    hook = model.Mixed_6e.register_forward_hook(lambda mod, inp, out: captured.update(x=out))
    model.AuxLogits = None
    model.train()
    try:
        model(calibration)
    finally:
        model.AuxLogits = aux
        hook.remove()
    if aux is not None:
        x = captured["x"]
        if x.shape[-2:] != (AUX_INPUT_SIZE, AUX_INPUT_SIZE):
            x = F.interpolate(x, size=(AUX_INPUT_SIZE, AUX_INPUT_SIZE), mode="bilinear", align_corners=False)
        aux(x)
    model.eval()
    for bn in batchnorms:
        bn.momentum = 0.1
        var = bn.running_var
        mean_noise = torch.randn(var.shape, generator=gen) * 0.1 * var.sqrt()
        bn.running_var.mul_(uniform(var.shape, 0.5, 2.0, gen))
        bn.running_mean.add_(mean_noise)
        bn.num_batches_tracked.fill_(int(torch.randint(1, 1_000_000, (1,), generator=gen)))


def build_model(args):
    torch.manual_seed(args.seed)
    gen_weights, gen_calibration, gen_stats, gen_input = sub_generators(args.seed, 4)
    if args.network == "fid":
        model = fid_inception(args.pytorch_fid)
    else:
        model = torchvision.models.Inception3(
            num_classes=args.classes, aux_logits=True, transform_input=args.transform_input, init_weights=False
        )
    init_weights(model, gen_weights)
    images = min(MAX_CALIBRATION_IMAGES, max(2, -(-CALIBRATION_PIXELS // (args.height * args.width))))
    calibration = torch.randn((images, 3, args.height, args.width), generator=gen_calibration)
    image = torch.randn((args.batch, 3, args.height, args.width), generator=gen_input)
    if args.image:  # photos: calibrate on them and their mirror images
        image = normalized_batch(args.image)
        calibration = torch.cat([image, image.flip(3)])
    calibrate_batchnorm(model, calibration, gen_stats)
    return model, image


def state_dict_to_save(model, args):
    """The tensors to write, named as torchvision names them, in args.dtype."""
    save_dtype = SAVE_DTYPES[args.dtype]
    tensors = {}
    for name, t in model.state_dict().items():
        if args.no_aux and (name.startswith("AuxLogits.") or name.endswith("num_batches_tracked")):
            continue
        if t.is_floating_point():
            t = t.to(save_dtype)
        tensors[name] = t.contiguous()
    return tensors


@torch.no_grad()
def reference_logits(model, tensors, image, feature_layers=()):
    """Float64 eval forward with exactly the saved (possibly rounded) weights:
    the logits and the outputs of the named modules, caught by forward hooks."""
    model = model.double()
    state = model.state_dict()
    for name, t in tensors.items():
        state[name].copy_(t.to(state[name].dtype))
    model.eval()
    features = {}
    hooks = [
        model.get_submodule(name).register_forward_hook(
            lambda mod, inp, out, name=name: features.update({name: out.detach().clone()})
        )
        for name in feature_layers
    ]
    try:
        logits = model(image.double())
    finally:
        for hook in hooks:
            hook.remove()
    if not isinstance(logits, torch.Tensor):
        raise RuntimeError("Inception3 in eval mode did not return a plain logits tensor")
    for name, out in features.items():
        if name == "avgpool":
            out = torch.flatten(out, 1)
        features[name] = out.numpy().astype(np.float64)
    return logits.numpy().astype(np.float64), features


def check_logits(logits):
    """Fail unless the logits have a sane magnitude; return per-image std and top-5 gaps."""
    if not np.all(np.isfinite(logits)):
        raise SystemExit("make_reference.py: error: reference logits contain nan or inf")
    stds = logits.std(axis=1)
    if np.any(stds < 0.1) or np.any(stds > 100.0):
        raise SystemExit(f"make_reference.py: error: reference logits std {stds} is outside 0.1..100")
    ordered = -np.sort(-logits, axis=1)
    gap_5_6 = ordered[:, 4] - ordered[:, 5]
    # The top-5 must also agree in order: the smallest step among the top 6.
    gap_order = (ordered[:, :5] - ordered[:, 1:6]).min(axis=1)
    return stds, gap_5_6, gap_order


def main():
    args = parse_args()
    torch.set_num_threads(2)
    start = time.perf_counter()
    os.makedirs(args.out, exist_ok=True)
    model, image = build_model(args)
    tensors = state_dict_to_save(model, args)
    logits, features = reference_logits(model, tensors, image, args.features)
    stds, gap_5_6, gap_order = check_logits(logits)

    model_path = os.path.join(args.out, "model.safetensors")
    input_path = os.path.join(args.out, "input.npy")
    logits_path = os.path.join(args.out, "logits.npy")
    save_safetensors(model_path, tensors)
    np.save(input_path, image.numpy().astype(np.float32))
    np.save(logits_path, logits)
    for name, out in features.items():
        path = os.path.join(args.out, f"features_{name}.npy")
        np.save(path, out)
        print(f"wrote {path} {out.shape}")

    norms = np.linalg.norm(logits, axis=1)
    for i in range(logits.shape[0]):
        top5 = np.argsort(-logits[i], kind="stable")[:5].tolist()
        # gap / (1e-4 * ||logits_i||): above 2, no error within the 1e-4 tolerance can reorder the top 5
        margin = gap_order[i] / (1e-4 * norms[i])
        print(
            f"image {i}: logits std {stds[i]:.4g}, top5 {top5}, gap 5th-6th {gap_5_6[i]:.4g}, "
            f"smallest top-6 step {gap_order[i]:.4g} ({margin:.3g}x the 1e-4 tolerance)"
        )
    params = sum(t.numel() for n, t in tensors.items() if not n.endswith("num_batches_tracked"))
    print(
        f"wrote {model_path} ({len(tensors)} tensors, {params} values, {args.dtype}), {input_path} "
        f"{tuple(image.shape)}, {logits_path} {logits.shape}: logits std {logits.std():.4g}, "
        f"min top5 gap {gap_5_6.min():.4g}, min top-6 step {gap_order.min():.4g}, "
        f"{time.perf_counter() - start:.1f} s"
    )


if __name__ == "__main__":
    main()
