"""Pictures of a run: the sample grid and the plots. Returns images and figures; never writes or logs.

Figures are `matplotlib.figure.Figure` objects built without pyplot, so importing this
module changes no global matplotlib state (backend, open-figure list), they are safe in
threads, need no display, and are freed by garbage collection (`close_figure` drops their
artists at once). The tracking module saves and logs them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from PIL import Image, ImageDraw, ImageFont

from harness.metrics import ci_columns, higher_is_better
from harness.pipeline.types import GridSample

#: Grid layout in pixels: height of the column-title strip and of each row's header strip,
#: and the gap around columns and below rows.
HEADER = 18
PAD = 4
COLUMNS = ("gray input", "output", "ground truth")


def _thumb(arr: np.ndarray, height: int) -> Image.Image:
    """An RGB thumbnail `height` pixels high, keeping the aspect ratio (gray is replicated)."""
    arr = np.asarray(arr)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    img = Image.fromarray(np.ascontiguousarray(arr if arr.ndim == 3 else np.repeat(arr[..., None], 3, axis=2)))
    img = img.convert("RGB")
    width = max(1, round(img.width * height / img.height))
    return img.resize((width, height), Image.Resampling.BILINEAR)


def row_label(sample: GridSample) -> str:
    """The header text of a grid row: tag, id and scores."""
    if math.isnan(sample.psnr):  # a scan without ground truth: ranked by colourfulness, no PSNR
        return f"{sample.tag} · {sample.image_id}"
    return f"{sample.tag} · {sample.image_id} · PSNR {sample.psnr:.2f} dB · SSIM {sample.ssim:.3f}"


def sample_grid(samples: Sequence[GridSample], *, thumb_height: int = 256) -> Image.Image:
    """One row per sample: gray | output | ground truth, `thumb_height` pixels high each.

    Column titles are drawn once at the top; each row has a header strip with `row_label`.
    Column j starts at x = PAD + sum of (width + PAD) of the columns before it, where a
    column is as wide as its widest thumbnail (narrower ones are centred); row i's images
    start at y = HEADER + i * (HEADER + thumb_height + PAD) + HEADER.
    """
    font = ImageFont.load_default()
    rows = [[_thumb(s.gray, thumb_height), _thumb(s.output, thumb_height), _thumb(s.truth, thumb_height)]
            for s in samples]
    col_w = [max((r[c].width for r in rows), default=thumb_height) for c in range(3)]
    labels = [row_label(s) for s in samples]
    text_w = max((int(np.ceil(font.getlength(t))) for t in labels), default=0) + 2 * PAD + 4
    width = max(sum(col_w) + PAD * 4, text_w)
    height = HEADER + len(rows) * (HEADER + thumb_height + PAD)
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    x = PAD
    for c, title in enumerate(COLUMNS):
        draw.text((x + 2, 3), title, fill="black", font=font)
        x += col_w[c] + PAD
    y = HEADER
    for label, thumbs in zip(labels, rows):
        draw.text((PAD + 2, y + 3), label, fill="black", font=font)
        y += HEADER
        x = PAD
        for c, thumb in enumerate(thumbs):
            canvas.paste(thumb, (x + (col_w[c] - thumb.width) // 2, y))
            x += col_w[c] + PAD
        y += thumb_height + PAD
    return canvas


def distribution_plot(values: pd.Series | Sequence[float], metric: str, *, title: str = "") -> Figure:
    """Histogram with KDE of the per-image values, with the mean and the median marked.

    NaNs are ignored. The KDE is drawn only when it is defined (3+ values, not all equal);
    with no values at all the figure says so instead of failing.
    """
    import seaborn as sns

    v = pd.Series(values, dtype=float).dropna().reset_index(drop=True)
    fig = Figure(figsize=(6, 3.6))
    ax = fig.subplots()
    if v.empty:
        ax.text(0.5, 0.5, "no scored images", ha="center", va="center", transform=ax.transAxes)
    else:
        sns.histplot(x=v, kde=len(v) > 2 and v.nunique() > 1, ax=ax, color="#4c72b0")
        ax.axvline(v.mean(), color="#c44e52", linestyle="-", label=f"mean {v.mean():.4g}")
        ax.axvline(v.median(), color="#55a868", linestyle="--", label=f"median {v.median():.4g}")
        ax.legend(loc="best", fontsize="small")
    ax.set_xlabel(metric)
    ax.set_ylabel("images")
    ax.set_title(title or f"{metric} per image (n={len(v)})")
    fig.tight_layout()
    return fig


def comparison_plot(runs: pd.DataFrame, metric: str) -> Figure:
    """Horizontal bars of each sweep point's `metric`, best at the top, with 95% CI error bars
    when the metric has CI columns (`ci_columns`) and they are there.

    Points without a value are left out. Labels need not be unique: bars sit at their own
    positions, so two points with the same label do not collapse into one.
    """
    data = runs.assign(_value=pd.to_numeric(runs[metric], errors="coerce")).dropna(subset=["_value"])
    # barh draws the first row at the bottom: worst first puts the best on top.
    data = data.sort_values(["_value", "label"], ascending=[higher_is_better(metric) is not False, True],
                            kind="mergesort")
    lo, hi = ci_columns(metric) or ("", "")
    fig = Figure(figsize=(7, 0.45 * max(len(data), 2) + 1.4))
    ax = fig.subplots()
    xerr = None
    if lo in data.columns and hi in data.columns:
        low = (data["_value"] - pd.to_numeric(data[lo], errors="coerce")).clip(lower=0).fillna(0)
        high = (pd.to_numeric(data[hi], errors="coerce") - data["_value"]).clip(lower=0).fillna(0)
        xerr = np.vstack([low.to_numpy(float), high.to_numpy(float)])
    pos = np.arange(len(data))
    ax.barh(pos, data["_value"].to_numpy(float), xerr=xerr, color="#4c72b0", capsize=3)
    ax.set_yticks(pos, data["label"].astype(str).tolist())
    ax.set_xlabel(metric + (" (95% CI)" if xerr is not None else ""))
    ax.set_title(f"{metric} by sweep point")
    fig.tight_layout()
    return fig


def close_figure(fig: Figure) -> None:
    """Free a figure's artists now (pyplot's `close` does not apply: it never saw the figure)."""
    fig.clear()
