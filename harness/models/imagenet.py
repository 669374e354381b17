"""ImageNet's per-channel mean and standard deviation, the input normalisation of ImageNet-trained backbones."""

from __future__ import annotations

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def normalize(x):
    """(B, 3, H, W) float tensor in [0, 1] -> ImageNet-normalised (a new tensor)."""
    return (x - x.new_tensor(MEAN).view(1, 3, 1, 1)) / x.new_tensor(STD).view(1, 3, 1, 1)


def denormalize(x):
    """Inverse of `normalize`."""
    return x * x.new_tensor(STD).view(1, 3, 1, 1) + x.new_tensor(MEAN).view(1, 3, 1, 1)
