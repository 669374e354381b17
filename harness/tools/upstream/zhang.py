"""Zhang et al.'s upstream pipeline (`colorizers`, from the reference folder) on the harness's weights.

For `harness bench --vs-upstream` and the parity tests: preprocess_img, the generator,
postprocess_tens, then what the demo's `plt.imsave` does to make bytes, one gray image at a
time. Upstream runs in fp32; `precision` is not applied.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from harness.assets.checkpoint import safe_load, state_dict_of
from harness.tools.upstream import reference


def one_image(architecture: str, weights: Path, device: str):
    """Upstream's one-image pipeline of `architecture` ('eccv16' or 'siggraph17') holding `weights`:
    gray H x W uint8 in, RGB H x W x 3 uint8 out."""
    from matplotlib.cm import ScalarMappable

    colorizers = reference.load("colorizers")
    build = colorizers.eccv16 if architecture == "eccv16" else colorizers.siggraph17
    net = build(pretrained=False)
    net.load_state_dict(state_dict_of(safe_load(weights, strict_globals=True), weights), strict=True)
    net.to(device).eval()
    to_bytes = ScalarMappable()  # plt.imsave's float -> uint8 conversion

    def run(gray: np.ndarray) -> np.ndarray:
        rgb = np.tile(gray[:, :, None], 3)  # upstream's load_img for a 2-D (gray) image
        orig_l, small_l = colorizers.preprocess_img(rgb, HW=(256, 256))
        with torch.inference_mode():
            ab = net(small_l.to(device)).cpu()
        with warnings.catch_warnings():  # skimage's per-image out-of-gamut note, as the harness's
            warnings.filterwarnings("ignore", message=".*negative Z values", category=UserWarning)
            out = colorizers.postprocess_tens(orig_l, ab)
        return np.ascontiguousarray(to_bytes.to_rgba(out, bytes=True)[..., :3])

    return run
