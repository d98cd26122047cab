#!/usr/bin/python3
"""Export torchvision's Inception v3 (eval, no aux head, seeded random
weights: the speed is that of any weights) to ONNX with Debian's torch, the
batch and image dimensions dynamic, for the peers of tools/bench_vs_peers.sh.
usage: /usr/bin/python3 tools/export_onnx.py OUT.onnx"""

import sys

import torch
import torchvision


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    torch.manual_seed(0)
    model = torchvision.models.Inception3(aux_logits=False, init_weights=False).eval()
    with torch.no_grad():
        torch.onnx.export(model, torch.rand(1, 3, 299, 299), sys.argv[1], input_names=["input"],
                          output_names=["logits"], opset_version=13,
                          dynamic_axes={"input": {0: "batch", 2: "height", 3: "width"},
                                        "logits": {0: "batch"}})


if __name__ == "__main__":
    main()
