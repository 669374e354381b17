"""Pictures of a run: the sample grid and the plots. Returns images and figures; never writes or logs.

Figures are `matplotlib.figure.Figure` objects built without pyplot's global state, so
they are safe in threads and need no display.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from PIL import Image, ImageDraw, ImageFont

HEADER = 18
COLUMNS = ("gray input", "output", "ground truth")


@dataclass
class GridSample:
    image_id: str
    gray: np.ndarray  # H x W uint8
    output: np.ndarray  # H x W x 3 uint8
    truth: np.ndarray  # H x W x 3 uint8
    psnr: float
    ssim: float
    tag: str  # "best" | "median" | "worst"


def select_grid_ids(rows: pd.DataFrame, count: int, by: str = "psnr") -> list[tuple[str, str]]:
    """`count` scored images: best, around the median and worst by `by`, each once, best first."""
    ok = rows[(rows["status"] == "ok") & rows[by].notna()]
    ranked = ok.sort_values([by, "image_id"], ascending=[False, True])["image_id"].tolist()
    if count <= 0 or not ranked:
        return []
    if len(ranked) <= count:
        n = len(ranked)
        return [(i, "best" if k < n / 3 else "worst" if k >= n - n / 3 else "median") for k, i in enumerate(ranked)]
    third, extra = divmod(count, 3)
    n_best, n_worst = third + (extra > 0), third + (extra > 1)
    n_median = count - n_best - n_worst
    start = max(n_best, min(len(ranked) // 2 - n_median // 2, len(ranked) - n_worst - n_median))
    best = ranked[:n_best]
    median = ranked[start:start + n_median]
    worst = ranked[len(ranked) - n_worst:]
    return [(i, "best") for i in best] + [(i, "median") for i in median] + [(i, "worst") for i in worst]


def _thumb(arr: np.ndarray, height: int) -> Image.Image:
    img = Image.fromarray(arr if arr.ndim == 3 else np.repeat(arr[..., None], 3, axis=2), "RGB")
    width = max(1, round(img.width * height / img.height))
    return img.resize((width, height), Image.Resampling.BILINEAR)


def sample_grid(samples: Sequence[GridSample], *, thumb_height: int = 256) -> Image.Image:
    """One row per sample: gray | output | ground truth, each row labelled with id, PSNR and SSIM."""
    font = ImageFont.load_default()
    rows = [[_thumb(s.gray, thumb_height), _thumb(s.output, thumb_height), _thumb(s.truth, thumb_height)]
            for s in samples]
    col_w = [max((r[c].width for r in rows), default=thumb_height) for c in range(3)]
    width = sum(col_w) + 4 * 4
    height = HEADER + len(rows) * (thumb_height + HEADER + 4) + 4
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    x = 4
    for c, title in enumerate(COLUMNS):
        draw.text((x + 2, 3), title, fill="black", font=font)
        x += col_w[c] + 4
    y = HEADER
    for sample, thumbs in zip(samples, rows):
        draw.text((6, y + 3), f"{sample.tag} · {sample.image_id} · PSNR {sample.psnr:.2f} dB · SSIM {sample.ssim:.3f}",
                  fill="black", font=font)
        y += HEADER
        x = 4
        for c, thumb in enumerate(thumbs):
            canvas.paste(thumb, (x + (col_w[c] - thumb.width) // 2, y))
            x += col_w[c] + 4
        y += thumb_height + 4
    return canvas


def distribution_plot(values: pd.Series | Sequence[float], metric: str, *, title: str = "") -> Figure:
    """Histogram with KDE of the per-image values, with the mean and the median marked."""
    import seaborn as sns

    v = pd.Series(values, dtype=float).dropna()
    fig = Figure(figsize=(6, 3.6))
    ax = fig.subplots()
    sns.histplot(v, kde=len(v) > 2 and v.nunique() > 1, ax=ax, color="#4c72b0")
    ax.axvline(v.mean(), color="#c44e52", linestyle="-", label=f"mean {v.mean():.3g}")
    ax.axvline(v.median(), color="#55a868", linestyle="--", label=f"median {v.median():.3g}")
    ax.set_xlabel(metric)
    ax.set_ylabel("images")
    ax.set_title(title or f"{metric} per image (n={len(v)})")
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    return fig


def comparison_plot(runs: pd.DataFrame, metric: str) -> Figure:
    """Horizontal bars of each sweep point's `metric`, with the 95% CI when the metric is a mean."""
    data = runs.dropna(subset=[metric]).sort_values(metric)
    base = metric[: -len("_mean")] if metric.endswith("_mean") else None
    lo, hi = (f"{base}_ci95_low", f"{base}_ci95_high") if base else (None, None)
    fig = Figure(figsize=(7, 0.45 * max(len(data), 2) + 1.4))
    ax = fig.subplots()
    xerr = None
    if lo in data and hi in data:
        xerr = np.vstack([(data[metric] - data[lo]).clip(lower=0), (data[hi] - data[metric]).clip(lower=0)])
    ax.barh(data["label"].astype(str), data[metric], xerr=xerr, color="#4c72b0", capsize=3)
    ax.set_xlabel(metric + (" (95% CI)" if xerr is not None else ""))
    ax.set_title(f"{metric} by sweep point")
    fig.tight_layout()
    return fig
