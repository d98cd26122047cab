#!/usr/bin/python3
"""Write tools/data/imagenet_classes.txt: torchvision's 1000 ImageNet class names,
one per line in class-index order (line 282, index 281, is "tabby")."""

import os

from torchvision.models._meta import _IMAGENET_CATEGORIES

NUM_CLASSES = 1000


def main():
    names = list(_IMAGENET_CATEGORIES)
    if len(names) != NUM_CLASSES:
        raise SystemExit(f"expected {NUM_CLASSES} class names, torchvision has {len(names)}")
    for i, name in enumerate(names):
        if not name or "\n" in name:
            raise SystemExit(f"class {i} has an unusable name {name!r}")
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "imagenet_classes.txt")
    with open(out, "w", encoding="utf-8", newline="\n") as f:
        f.write("".join(name + "\n" for name in names))
    print(f"wrote {out} ({len(names)} classes)")


if __name__ == "__main__":
    main()
