"""FID and KID between a run's outputs and its ground truths, on pytorch-fid's Inception features.

pytorch-fid is what most colorization papers report, so its network is used as is: its
`InceptionV3` (pool3, 2048 features) with its official weights file
`pt_inception-2015-12-05-6726825d.pth`, which goes through the harness's weights cache
(fetched, verified, refused when it is not a checkpoint or does not fit). Its preprocessing
is kept: 8-bit RGB to [0, 1], bilinear resize to 299 x 299 (align_corners False), then the
network's own scaling to [-1, 1]. Features are extracted batch by batch inside the run's
streaming pipeline; only the feature rows are kept.

- FID: the Fréchet distance of Gaussians fitted to the two feature sets (numpy mean and
  covariance, ddof 1, as pytorch-fid), with tr sqrt(Σ1 Σ2) computed exactly from the
  eigenvalues of Σ1^½ Σ2 Σ1^½ (or, with fewer images than feature dimensions, the singular
  values of X1 X2ᵀ), which agrees with pytorch-fid's scipy `sqrtm` and is thousands of times
  faster. No bootstrap CI: resampling feature rows with replacement duplicates a third of
  them, which FID reads as lost diversity, so bootstrap FIDs sit far above the estimate (see
  docs/metrics.md). FID is strongly biased upward below ~2,000 images: the run says so.
- KID: the unbiased polynomial-kernel MMD² (degree 3, γ = 1/d, coef 1) averaged over random
  subsets, with the subsets' population standard deviation, as torchmetrics and
  torch-fidelity define it. With fewer images than `subset_size`, subsets take every image.
  The kernels run in float64 with torch on the run's device (a GPU when the run has one).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, ClassVar
from unittest import mock

import numpy as np
from pydantic import BaseModel, Field

from harness.assets.weights import WeightsFile
from harness.config.params import Strict
from harness.errors import HarnessError
from harness.metrics.registry import Metric, register_metric

FID_URL = "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth"
INCEPTION = WeightsFile("fid-inception", "pt_inception-2015-12-05-6726825d.pth", (FID_URL,), None, "6726825d",
                        source="the sha256 prefix in the file name (torch hub's convention), unverified here")
#: FID below this many images is strongly biased upward (said in the run and in `compare`)
FID_RELIABLE_N = 2000
SIZE = 299

_networks: dict[tuple, Any] = {}
_lock = threading.Lock()


def inception(path: Path, device: str):
    """pytorch-fid's `InceptionV3` (pool3 features) holding the weights file at `path`, loaded once."""
    key = (str(Path(path).resolve()), Path(path).stat().st_mtime_ns, device)
    with _lock:
        if key not in _networks:
            import pytorch_fid.inception as fid

            from harness.assets.checkpoint import safe_load, state_dict_of

            state = state_dict_of(safe_load(path, strict_globals=True), Path(path))  # a plain state dict
            # pytorch-fid builds its network and downloads the weights in one function: only
            # the download is replaced, by the verified file; its strict load checks every key.
            try:
                with mock.patch.object(fid, "load_state_dict_from_url", lambda *a, **k: state):
                    net = fid.InceptionV3([fid.InceptionV3.BLOCK_INDEX_BY_DIM[2048]])
            except RuntimeError as exc:
                from harness.assets.checkpoint import identify

                found = identify(state)
                like = f" These look like {found}." if found and not found.startswith("Inception") else ""
                raise HarnessError(f"Weights file '{path}' does not fit pytorch-fid's FID Inception network: "
                                   f"{str(exc).splitlines()[0]} {' '.join(str(exc).split())[:400]}{like}",
                                   hint="Use pytorch-fid's pt_inception-2015-12-05-6726825d.pth "
                                        "(`harness weights fetch fid-inception`).") from None
            _networks.clear()  # one Inception at a time in memory
            _networks[key] = net.to(device).eval()
        return _networks[key]


def inception_features(net, images, device: str) -> np.ndarray:
    """(N, 2048) pool3 features (float32 values, as float64) of H x W x 3 uint8 images, pytorch-fid's preprocessing."""
    import torch
    import torch.nn.functional as F

    with torch.inference_mode():
        batch = torch.cat([F.interpolate(torch.from_numpy(np.ascontiguousarray(img)).to(device).permute(2, 0, 1)
                                         [None].float().div(255), size=(SIZE, SIZE), mode="bilinear",
                                         align_corners=False) for img in images])
        return net(batch)[0].squeeze(3).squeeze(2).double().cpu().numpy()


def trace_sqrt_product(real: np.ndarray, fake: np.ndarray) -> float:
    """tr sqrt(Σ_real Σ_fake) of the two feature sets' covariances (ddof 1), exactly."""
    x1, x2 = real - real.mean(0), fake - fake.mean(0)
    n1, n2, d = len(real), len(fake), real.shape[1]
    if min(n1, n2) <= d:  # the product's non-zero eigenvalues are the squared singular values of X1 X2ᵀ
        return float(np.linalg.svd(x1 @ x2.T, compute_uv=False).sum() / np.sqrt((n1 - 1) * (n2 - 1)))
    s1, s2 = x1.T @ x1 / (n1 - 1), x2.T @ x2 / (n2 - 1)
    w, v = np.linalg.eigh(s1)
    root = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    return float(np.sqrt(np.clip(np.linalg.eigvalsh(root @ s2 @ root), 0, None)).sum())


def frechet_distance(real: np.ndarray, fake: np.ndarray) -> float:
    """FID of two feature sets: |μ1 - μ2|² + tr Σ1 + tr Σ2 - 2 tr sqrt(Σ1 Σ2)."""
    diff = real.mean(0) - fake.mean(0)
    tr1 = float(((real - real.mean(0)) ** 2).sum() / (len(real) - 1))
    tr2 = float(((fake - fake.mean(0)) ** 2).sum() / (len(fake) - 1))
    return float(diff @ diff) + tr1 + tr2 - 2 * trace_sqrt_product(real, fake)


def kid_subsets(real, fake, *, subsets: int = 100, subset_size: int = 1000, degree: int = 3,
                gamma: float | None = None, coef: float = 1.0, seed: int = 0, device: str | None = None) -> np.ndarray:
    """Unbiased polynomial-kernel MMD² of `subsets` random subsets (drawn as torchmetrics draws them).

    `real` and `fake` are feature arrays or tensors; the kernels run in float64 with torch on
    `device` (default: the tensors' own device, the CPU for arrays). The subsets are drawn on the
    CPU with the seeded generator, so every device scores the same subsets; the scores come back
    to the host once, at the end."""
    import torch

    r, f = (torch.as_tensor(a) for a in (real, fake))
    device = device or str(r.device)
    r, f = (t.to(device=device, dtype=torch.float64) for t in (r, f))
    m = min(subset_size, len(r), len(f))
    gen = torch.Generator().manual_seed(seed)
    gamma = 1.0 / r.shape[1] if gamma is None else gamma

    def kernel(a, b):
        return (a @ b.T * gamma + coef) ** degree

    scores = torch.empty(subsets, dtype=torch.float64, device=device)
    for i in range(subsets):
        x = r[torch.randperm(len(r), generator=gen)[:m].to(device)]
        y = f[torch.randperm(len(f), generator=gen)[:m].to(device)]
        k_xx, k_yy, k_xy = kernel(x, x), kernel(y, y), kernel(x, y)
        within = (k_xx.sum() - k_xx.diagonal().sum() + k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1))
        scores[i] = within - 2 * k_xy.sum() / m ** 2
    return scores.cpu().numpy()


class InceptionOptions(Strict):
    weights: Path | None = Field(None, description="pytorch-fid's Inception weights file; default: the official "
                                                   "file in the cache.")


class KidOptions(InceptionOptions):
    subsets: int = Field(100, ge=1, le=10_000)
    subset_size: int = Field(1000, ge=2, description="Images per subset (every image when there are fewer).")
    seed: int = Field(0, description="Seed of the subsets drawn.")


class _InceptionMetric(Metric):
    """A dataset metric on pytorch-fid's Inception features of the outputs and the ground truths."""

    kind = "dataset"
    Params: ClassVar[type[BaseModel]] = InceptionOptions

    def __init__(self, params=None, device: str = "cpu"):
        super().__init__(params, device)
        self.note: str | None = None
        self._path: Path | None = None

    @classmethod
    def official_weights(cls, params) -> WeightsFile:
        return INCEPTION

    @classmethod
    def weights_files(cls) -> list[WeightsFile]:
        return [INCEPTION]

    @classmethod
    def check_weights(cls, path: Path, params) -> None:
        inception(path, "cpu")  # strict; kept for a CPU run, replaced by a device's load

    def _weights(self) -> Path:
        self._path = self._path or type(self).preflight(self.params)
        return self._path

    def state_key(self) -> str:
        """FID and KID on the same weights share their features. Named by the option, not a resolved
        path: a Ray worker's weights cache may sit elsewhere than the driver's."""
        return f"inception-pool3:{self.params.weights or 'official'}"

    def states(self, pairs) -> np.ndarray:
        """Per pair: the 2048 pool3 features of the ground truth, then the 2048 of the output (float32,
        the network's own precision, so keeping them loses nothing)."""
        net = inception(self._weights(), self.device)
        real = inception_features(net, [g for g, _ in pairs], self.device)
        fake = inception_features(net, [o for _, o in pairs], self.device)
        return np.hstack([real, fake]).astype(np.float32)

    def _features(self, states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        states = np.asarray(states, dtype=np.float64).reshape(len(states), -1)
        if len(states) < 2:
            raise ValueError(f"{self.name.upper()} needs at least 2 scored images; this run has {len(states)}")
        half = states.shape[1] // 2
        return states[:, :half], states[:, half:]


@register_metric("fid", higher_is_better=False, columns=("fid", "n_fid"))
class FID(_InceptionMetric):
    """Fréchet Inception Distance between outputs and ground truths (pytorch-fid's network and weights)."""

    def reduce(self, states: np.ndarray) -> dict[str, float]:
        self.note = None
        real, fake = self._features(states)
        if len(real) < FID_RELIABLE_N:
            self.note = (f"FID over {len(real)} images (< {FID_RELIABLE_N}) is strongly biased upward; compare only "
                         f"runs with the same number of images")
        return {"fid": frechet_distance(real, fake), "n_fid": float(len(real))}


def _reduce_device(device: str) -> str:
    """Where a reduction runs: the metric's device when this process can use it (a Ray driver without a
    GPU reduces the workers' rows on its CPU), else the CPU."""
    if device == "cpu":
        return device
    import torch

    return device if torch.cuda.is_available() else "cpu"


@register_metric("kid", higher_is_better=False, columns=("kid_mean", "kid_std"))
class KID(_InceptionMetric):
    """Kernel Inception Distance (unbiased MMD², mean and std over subsets) between outputs and ground truths."""

    Params = KidOptions

    def reduce(self, states: np.ndarray) -> dict[str, float]:
        self.note = None
        real, fake = self._features(states)
        p = self.params
        scores = kid_subsets(real, fake, subsets=p.subsets, subset_size=p.subset_size, seed=p.seed,
                             device=_reduce_device(self.device))
        if len(real) < p.subset_size:
            self.note = f"KID subsets take all {len(real)} images (fewer than subset_size {p.subset_size})"
        return {"kid_mean": float(scores.mean()), "kid_std": float(scores.std())}
