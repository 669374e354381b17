"""What COCO adds to a run: scores inside object masks versus the background, and per category.

Skies and grass live in the background, trams and cats in the objects; a single image
score hides the difference. Masked scores are the ordinary metrics applied to the masked
pixels only (a pixel list is an N x 1 image, so every metric keeps its exact definition).
`CocoReporter` is the COCO source's `Reporter`: the runner calls it without knowing COCO.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from harness.data.base import Report, Reporter, Sample
from harness.metrics import build_metrics, summarize

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Metrics scored per region; each gives `<column>_objects` and `<column>_background` columns.
REGION_METRICS = ("psnr", "delta_e", "colorfulness")
#: Image-level columns aggregated per supercategory in `by_category.csv`.
CATEGORY_COLUMNS = ("psnr", "ssim", "delta_e", "colorfulness", "psnr_objects", "psnr_background")
#: Summary keys also logged as run metrics per supercategory (`psnr_mean__animal` ...).
CATEGORY_METRICS = ("psnr", "delta_e")


def region_scores(gt: np.ndarray, out: np.ndarray, mask: np.ndarray,
                  metrics: Sequence[str] = REGION_METRICS) -> dict[str, float]:
    """Each metric inside `mask` (objects) and outside it (background); NaN for an empty region."""
    built = build_metrics(metrics)
    scores: dict[str, float] = {"object_fraction": float(mask.mean()) if mask.size else float("nan")}
    for region, m in (("objects", mask), ("background", ~mask)):
        if not m.any():
            scores.update({f"{c}_{region}": float("nan") for metric in built for c in metric.columns})
            continue
        g, o = gt[m][:, None, :], out[m][:, None, :]  # N x 1 x 3
        for metric in built:
            scores.update({f"{c}_{region}": v for c, v in metric.score(g, o).items()})
    return scores


def by_category(rows: pd.DataFrame, *, seed: int = 0) -> pd.DataFrame:
    """Per supercategory, over the scored images containing it: count, mean and 95% CI of each column."""
    if "supercategories" not in rows:
        return pd.DataFrame()
    ok = rows[rows["status"] == "ok"]
    exploded = ok.assign(supercategory=ok["supercategories"].fillna("").str.split(";")).explode("supercategory")
    exploded = exploded[exploded["supercategory"] != ""]
    records = []
    for name, group in exploded.groupby("supercategory", sort=True):
        record: dict[str, float | str] = {"supercategory": name, "n_images": len(group)}
        for column in CATEGORY_COLUMNS:
            if column in group:
                s = summarize(group[column].to_numpy(dtype=float), seed=seed)
                record.update({f"{column}_mean": s["mean"], f"{column}_ci95_low": s["ci95_low"],
                               f"{column}_ci95_high": s["ci95_high"]})
        records.append(record)
    return pd.DataFrame(records)


def category_metrics(table: pd.DataFrame) -> dict[str, float]:
    """The few per-category figures worth a metric key: `psnr_mean__animal`, `delta_e_mean__animal` ..."""
    out: dict[str, float] = {}
    for _, row in table.iterrows():
        for metric in CATEGORY_METRICS:
            value = row.get(f"{metric}_mean")
            if value is not None and value == value:
                out[f"{metric}_mean__{row['supercategory']}"] = float(value)
    return out


class CocoReporter(Reporter):
    """COCO's hooks: supercategories per row, object/background scores, the per-category breakdown."""

    columns = ("supercategories",)

    def __init__(self, index: Any):  # a harness.data.coco.CocoIndex
        self.index = index

    def describe(self, sample: Sample) -> dict[str, Any]:
        return {"supercategories": ";".join(sample.meta.get("supercategories", ()))}

    def score(self, sample: Sample, gt: np.ndarray, out: np.ndarray) -> dict[str, float]:
        return region_scores(gt, out, self.index.object_mask(sample.meta["coco_id"], gt.shape[0], gt.shape[1]))

    def report(self, rows: pd.DataFrame, *, seed: int = 0) -> Report:
        table = by_category(rows, seed=seed)
        if table.empty:
            return Report()
        scored = rows[(rows["status"] == "ok") & rows["supercategories"].fillna("").ne("")]
        figures = {"plots/psnr_by_category.png": category_plot(rows, "psnr")} if "psnr" in scored and len(scored) else {}
        return Report(summary=category_metrics(table), tables={"by_category.csv": table}, figures=figures)


def category_plot(rows: pd.DataFrame, metric: str = "psnr") -> Figure:
    """Bar chart of `metric` per COCO supercategory (the `supercategories` column, ';'-joined),
    over the scored images containing each, with 95% bootstrap CIs (seaborn)."""
    import seaborn as sns
    from matplotlib.figure import Figure

    ok = rows[(rows["status"] == "ok") & rows["supercategories"].fillna("").ne("")]
    long = ok.assign(supercategory=ok["supercategories"].str.split(";")).explode("supercategory")
    order = long.groupby("supercategory")[metric].mean().sort_values(ascending=False).index.tolist()
    fig = Figure(figsize=(7, 0.4 * max(len(order), 3) + 1.2))
    ax = fig.subplots()
    sns.barplot(data=long, x=metric, y="supercategory", order=order, errorbar=("ci", 95), seed=0, ax=ax)
    ax.set_title(f"{metric} by COCO supercategory (95% CI)")
    fig.tight_layout()
    return fig
