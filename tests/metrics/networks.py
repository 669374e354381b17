"""Random, well-behaved weights for the metrics' networks, written in the official file formats.

Random weights make a feature-based metric vacuous when every photo maps to about the same
features (FID ~1e-15). So convolutions get He initialisation and every BatchNorm's
statistics are calibrated on real photos in train mode before the state dict is saved;
the tests then check that the reference's values are far from 0 before comparing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image


def calibration_photos(size: int, n: int = 12) -> torch.Tensor:
    """(n, 3, size, size) in [0, 1]: scikit-image's colour photos and crops of them."""
    import skimage.data

    photos = [skimage.data.astronaut(), skimage.data.chelsea(), skimage.data.coffee(), skimage.data.rocket()]
    crops = [p[: p.shape[0] // 2, : p.shape[1] // 2] for p in photos] + [p[p.shape[0] // 2:, p.shape[1] // 2:]
                                                                         for p in photos]
    images = [np.asarray(Image.fromarray(p).resize((size, size), Image.Resampling.BILINEAR))
              for p in (photos + crops)[:n]]
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255


def _he_and_calibrate(net: torch.nn.Module, x: torch.Tensor, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    norms = []
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
                fan_in = module.weight[0].numel()
                module.weight.copy_(torch.randn(module.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
                if module.bias is not None:
                    module.bias.zero_()
            elif isinstance(module, torch.nn.BatchNorm2d):
                module.reset_parameters()
                module.momentum = None  # cumulative: one pass gives exactly the batch's statistics
                norms.append(module)
        net.train()
        net(x)
        net.eval()
    for module in norms:
        module.momentum = 0.1


def random_fid_inception(path: Path, seed: int = 0) -> Path:
    """pytorch-fid's FID Inception (torchvision's InceptionV3 with its FID blocks, 1008 classes), random
    but calibrated, saved as a plain state dict like pt_inception-2015-12-05-6726825d.pth."""
    import pytorch_fid.inception as fid

    net = fid._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    net.Mixed_5b = fid.FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = fid.FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = fid.FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = fid.FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = fid.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = fid.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = fid.FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = fid.FIDInceptionE_1(1280)
    net.Mixed_7c = fid.FIDInceptionE_2(2048)
    _he_and_calibrate(net, calibration_photos(299) * 2 - 1, seed)
    torch.save(net.state_dict(), path)
    return path


def random_torchvision(arch: str, path: Path, seed: int = 0) -> Path:
    """torchvision's `alexnet` or `vgg16` with random, calibrated weights, saved as torchvision's files are."""
    import torchvision

    net = getattr(torchvision.models, arch)(weights=None)
    x = (calibration_photos(224) - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor(
        [0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    _he_and_calibrate(net, x, seed)
    torch.save(net.state_dict(), path)
    return path
