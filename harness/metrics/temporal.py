"""Temporal consistency of a colorized clip: CDC, warp error and flicker, as pure functions.

Frames colorized one by one change colour from frame to frame; these three numbers measure
it. Each is also computed on the ground-truth clip, which moves and changes light too, so a
report shows the level a perfect colorization would reach. Lower is smoother for all three.

- **CDC**, colour distribution consistency (Liu et al., *Temporally Consistent Video
  Colorization with Deep Feature Propagation and Self-regularization Learning*, 2021, "TCVC";
  their `codes/eval_results.py`, reused by the NTIRE 2023 video colorization challenge):
  per RGB channel a 256-bin histogram of the 8-bit values divided by H·W; the Jensen–Shannon
  divergence with natural logarithms, JS(p, q) = ½ KL(p‖m) + ½ KL(q‖m), m = ½(p + q),
  between frames t and t + d, averaged over the clip's pairs for each d ∈ {1, 2, 4}; the three
  means weighted ⅓ each; then averaged over the three channels. TCVC computes the histograms
  on the RGB channels of the output frames (OpenCV's BGR order; the channel mean makes the
  order irrelevant), and so does the harness. A clip without a pair at every d (fewer than
  5 frames) has no CDC (NaN), as TCVC's mean of an empty list.
- **Warp error** (Lai et al., *Learning Blind Video Temporal Consistency*, ECCV 2018, their
  `evaluate_WarpError.py`): frame t + 1 warped back onto frame t along the optical flow
  F(t→t+1), O'(x) = O_{t+1}(x + F(x)) (bilinear); the squared difference to O_t, with RGB in
  [0, 1], averaged over the 3 channels and over the unmasked pixels; then averaged over the
  pairs of the clip. The flow is estimated on the *ground-truth* frames (their ITU-R 601
  luma), so the output is judged along the true motion, with OpenCV's DIS flow
  (`DISOpticalFlow_create(DISOPTICAL_FLOW_PRESET_MEDIUM)`: finest scale 1, patch 8, stride 3,
  25 gradient-descent and 5 variational-refinement iterations, α 20, δ 5, γ 10, mean
  normalisation and spatial propagation on; no weights). Masked out: pixels occluded by the
  forward–backward check of Ruder et al. (GCPR 2016), as Lai et al. use it,
  |F + B̂|² > 0.01 (|F|² + |B̂|²) + 0.5 with B̂(x) = B(x + F(x)) the backward flow
  F(t+1→t) sampled where x lands; motion boundaries, |∇F_x|² + |∇F_y|² > 0.01 |F|² + 0.002
  (forward differences); and pixels whose target x + F(x) lies outside the frame. A pair
  with every pixel masked has no value (Lai's script would count it as 0).
- **Flicker**: from the per-frame mean a* and mean b* of CIELAB (D65, the conversion of
  scikit-image's `rgb2lab`), the mean over consecutive pairs of ½ (|Δ mean a*| + |Δ mean b*|).
  It is blind to motion and sees global colour pumping, the typical failure of frame-by-frame
  colorization.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache

import numpy as np

#: Frame distances of CDC and their weights (TCVC's `dilation=[1, 2, 4]`, `weight=[1/3] * 3`).
DILATIONS = (1, 2, 4)
#: Forward–backward occlusion test (Ruder et al. 2016): |F + B̂|² > ALPHA (|F|² + |B̂|²) + BETA.
OCCLUSION_ALPHA, OCCLUSION_BETA = 0.01, 0.5
#: Motion-boundary test: |∇F_x|² + |∇F_y|² > BOUNDARY_ALPHA |F|² + BOUNDARY_BETA.
BOUNDARY_ALPHA, BOUNDARY_BETA = 0.01, 0.002
#: The run-level temporal scores, lower is better; their `_gt` twins have no direction.
SCORES = {
    "cdc": "colour distribution consistency (TCVC): JS divergence of RGB histograms between frames t and "
           "t+d, d in {1,2,4}",
    "warp_error": "mean squared RGB difference ([0,1]) between frame t and frame t+1 warped back along the "
                  "ground truth's DIS optical flow, occlusions masked",
    "flicker": "mean absolute change of the per-frame mean a* and b* (CIELAB) between consecutive frames",
}


def channel_histograms(rgb: np.ndarray) -> np.ndarray:
    """3 x 256 float64: per RGB channel, the count of each 8-bit value divided by H·W."""
    arr = np.asarray(rgb)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"expected an H x W x 3 uint8 frame, got {arr.dtype} {arr.shape}")
    pixels = arr.shape[0] * arr.shape[1]
    flat = arr.reshape(-1, 3)
    return np.stack([np.bincount(flat[:, c], minlength=256) for c in range(3)]).astype(np.float64) / pixels


def js_divergence(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen–Shannon divergence (natural log) along the last axis; 0·log 0 counts as 0.

    Each distribution is normalised to sum 1 first, as `scipy.stats.entropy` does in TCVC's script.
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    p = p / p.sum(axis=-1, keepdims=True)
    q = q / q.sum(axis=-1, keepdims=True)
    m = 0.5 * (p + q)

    def kl(a: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(a > 0, a * np.log(a / m), 0.0)
        return terms.sum(axis=-1)

    return 0.5 * kl(p) + 0.5 * kl(q)


def frame_js(hist_a: np.ndarray, hist_b: np.ndarray) -> float:
    """The mean over the three channels of the JS divergence between two frames' histograms."""
    return float(js_divergence(hist_a, hist_b).mean())


def cdc_from_pairs(js_by_distance: Mapping[int, Sequence[float]]) -> float:
    """CDC from the channel-mean JS divergences of a clip's pairs, grouped by frame distance d.

    The mean over pairs for each d in `DILATIONS`, weighted ⅓ each (the channel mean may be
    taken first: every step is a mean). NaN when some d has no pair.
    """
    means = []
    for d in DILATIONS:
        values = np.asarray([v for v in js_by_distance.get(d, ()) if v == v], dtype=np.float64)
        if values.size == 0:
            return float("nan")
        means.append(values.mean())
    return float(np.mean(means))


def cdc(frames: Sequence[np.ndarray]) -> float:
    """CDC of a whole clip given as a sequence of H x W x 3 uint8 frames (see the module docstring)."""
    hists = [channel_histograms(f) for f in frames]
    return cdc_from_pairs({d: [frame_js(hists[t], hists[t + d]) for t in range(len(hists) - d)]
                           for d in DILATIONS})


@lru_cache(maxsize=1)
def _lab_constants() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sRGB 8-bit -> linear lookup table, XYZ-from-linear-RGB matrix, D65 white) as scikit-image has them."""
    from skimage.color import colorconv

    levels = np.arange(256, dtype=np.float64) / 255.0
    linear = np.where(levels > 0.04045, ((levels + 0.055) / 1.055) ** 2.4, levels / 12.92)
    white = np.asarray(colorconv.xyz_tristimulus_values(illuminant="D65", observer="2"), dtype=np.float64)
    return linear, np.asarray(colorconv.xyz_from_rgb, dtype=np.float64), white


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65, 2°) of an 8-bit RGB image: scikit-image's `rgb2lab`, computed through a lookup
    table for the sRGB decoding (the same numbers to ~1e-12, several times faster)."""
    linear, matrix, white = _lab_constants()
    xyz = linear[np.asarray(rgb, dtype=np.uint8)] @ (matrix.T / white)
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16.0 / 116.0)
    lab = np.empty_like(f)
    lab[..., 0] = 116.0 * f[..., 1] - 16.0
    lab[..., 1] = 500.0 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200.0 * (f[..., 1] - f[..., 2])
    return lab


def chroma_means(rgb: np.ndarray) -> tuple[float, float, float]:
    """(mean a*, mean b*, mean chroma C* = sqrt(a*² + b*²)) of a frame over its pixels."""
    lab = rgb_to_lab(rgb)
    a, b = lab[..., 1], lab[..., 2]
    return float(a.mean()), float(b.mean()), float(np.hypot(a, b).mean())


def flicker_from_means(mean_a: Sequence[float], mean_b: Sequence[float]) -> float:
    """Mean over consecutive frames of ½(|Δ mean a*| + |Δ mean b*|); NaN with fewer than 2 frames."""
    a, b = np.asarray(mean_a, dtype=np.float64), np.asarray(mean_b, dtype=np.float64)
    if a.size < 2:
        return float("nan")
    return float((0.5 * (np.abs(np.diff(a)) + np.abs(np.diff(b)))).mean())


def flicker(frames: Sequence[np.ndarray]) -> float:
    """Flicker of a whole clip given as H x W x 3 uint8 frames (see the module docstring)."""
    means = [chroma_means(f) for f in frames]
    return flicker_from_means([m[0] for m in means], [m[1] for m in means])


def dis_flow(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Optical flow from `first` to `second` (H x W uint8 gray) by OpenCV's DIS, preset MEDIUM:
    H x W x 2 float32, (dx, dy) such that first(x) ≈ second(x + flow(x))."""
    import cv2

    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis.calc(np.ascontiguousarray(first), np.ascontiguousarray(second), None)


@lru_cache(maxsize=4)
def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    grid_x.flags.writeable = grid_y.flags.writeable = False
    return grid_x, grid_y


def _targets(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each pixel x lands, x + flow(x), as OpenCV's remap maps."""
    grid_x, grid_y = _grid(*flow.shape[:2])
    return grid_x + flow[..., 0], grid_y + flow[..., 1]


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """`image` sampled at x + flow(x) (bilinear; float32 out, 0 outside the frame)."""
    import cv2

    map_x, map_y = _targets(flow)
    return cv2.remap(np.asarray(image, dtype=np.float32), map_x, map_y, cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def valid_mask(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """H x W bool: pixels of the first frame whose forward flow can be trusted (see the module docstring)."""
    import cv2

    h, w = forward.shape[:2]
    map_x, map_y = _targets(forward)
    inside = (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
    back = cv2.remap(backward, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    fx, fy, bx, by = forward[..., 0], forward[..., 1], back[..., 0], back[..., 1]
    forward_sq = fx * fx + fy * fy
    occluded = (fx + bx) ** 2 + (fy + by) ** 2 > OCCLUSION_ALPHA * (forward_sq + bx * bx + by * by) + OCCLUSION_BETA
    gradient = np.zeros((h, w), dtype=np.float32)
    gradient[:, :-1] += np.square(forward[:, :-1] - forward[:, 1:]).sum(axis=-1)  # horizontal differences
    gradient[:-1, :] += np.square(forward[:-1, :] - forward[1:, :]).sum(axis=-1)  # vertical differences
    boundary = gradient > BOUNDARY_ALPHA * forward_sq + BOUNDARY_BETA
    return inside & ~occluded & ~boundary


def pair_flow(gray_first: np.ndarray, gray_second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(forward flow, valid mask) of a ground-truth pair: what `warp_error` needs."""
    forward = dis_flow(gray_first, gray_second)
    backward = dis_flow(gray_second, gray_first)
    return forward, valid_mask(forward, backward)


def warp_error(first: np.ndarray, second: np.ndarray, flow: np.ndarray, valid: np.ndarray) -> float:
    """Mean over valid pixels and RGB channels of (first − second warped back)², RGB in [0, 1];
    NaN when no pixel is valid."""
    count = int(np.count_nonzero(valid))
    if count == 0:
        return float("nan")
    diff = np.asarray(first, dtype=np.float32) - warp(second, flow)
    per_pixel = np.einsum("ijk,ijk->ij", diff, diff)  # squared differences summed over the channels
    return float(per_pixel[valid].sum(dtype=np.float64) / (3 * count) / 255.0 ** 2)


def clip_warp_error(frames: Sequence[np.ndarray], truth: Sequence[np.ndarray]) -> float:
    """Warp error of a whole clip (`frames`), the flow taken from its ground truth (`truth`)."""
    from harness.gray import to_gray

    errors = []
    for t in range(len(frames) - 1):
        flow, valid = pair_flow(to_gray(truth[t]), to_gray(truth[t + 1]))
        errors.append(warp_error(frames[t], frames[t + 1], flow, valid))
    values = np.asarray([e for e in errors if e == e])
    return float(values.mean()) if values.size else float("nan")
