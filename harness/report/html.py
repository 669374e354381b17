"""The sweep's comparison report: one self-contained HTML file to judge the points by eye.

The summary holds the `compare` ranking with its 95% CIs, the failed points with their whole
reason and plots (each point's distribution of the ranking metric, the metric against each
swept parameter, per-category bars where COCO categories exist). The gallery has one row per
image: gray input | each point's output | ground truth, with the per-image scores under each
output, sorting by any score of any point or by the difference between two points, filters by
split, category and status, and a larger view with a before/after slider against the truth and
one zoom for every point. Everything is inside the file (images as data URIs, the page's own
script and style, no font, CDN or request of any kind), so it opens offline and as an MLflow
artifact. Its images are the thumbnails the points kept as they ran (`pipeline.thumbs`): the
outputs that were scored, not a second colorization. Nothing here reads the tracking store: the
caller gives a `ReportInput` (`tracking.report_data` builds it from a sweep).
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import pandas as pd

from harness.metrics import higher_is_better

#: per-image columns that are not scores
NOT_SCORES = {"image_id", "path", "status", "error", "width", "height", "seconds", "supercategories", "clip",
              "frame", "object_fraction"}


@dataclass
class ReportPoint:
    """One finished point: its identity, its per-image rows and the thumbnails it kept."""

    label: str
    model: str
    split: str | None
    run_id: str
    params: dict[str, Any]
    rows: pd.DataFrame
    thumbs: dict[str, dict[str, bytes]] = field(default_factory=dict)
    clips: pd.DataFrame | None = None  # a video run's per_clip.csv (temporal scores per clip)
    previews: dict[str, bytes] = field(default_factory=dict)  # name -> side-by-side MP4 the run logged


@dataclass
class ReportInput:
    """Everything the report shows of one sweep."""

    experiment: str
    sweep: str  # the sweep run's id and start time, in words
    metric: str  # the ranking metric
    ranking: pd.DataFrame  # `report.compare.rank`'s table
    failed: list[tuple[str, str]]  # (label, whole reason)
    points: list[ReportPoint]
    runs: pd.DataFrame  # the runs table (summary metrics, `param.*`)
    rule: str = ""  # which images the gallery shows, and why those


def _data_uri(data: bytes, mime: str = "image/jpeg") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _png(fig) -> str:
    from harness.report.figures import close_figure

    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=90, bbox_inches="tight")
    close_figure(fig)
    return _data_uri(out.getvalue(), "image/png")


def score_columns(points: list[ReportPoint]) -> list[str]:
    """Per-image score columns any point has, the metrics' main scores first."""
    seen: dict[str, None] = {}
    for point in points:
        for column in point.rows.columns:
            if column not in NOT_SCORES and pd.api.types.is_numeric_dtype(point.rows[column]):
                seen.setdefault(str(column), None)
    main = [c for c in seen if "_" not in c]
    return main + [c for c in seen if c not in main]


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def gallery_data(report: ReportInput) -> dict[str, Any]:
    """The gallery as the page's script reads it: images (with their gray input and truth), points
    (with each image's status, reason, scores and output) and the score columns with their direction."""
    columns = score_columns(report.points)
    images: dict[str, dict[str, Any]] = {}
    points = []
    for point in report.points:
        cells = {}
        for row in point.rows.to_dict("records"):
            image_id = str(row["image_id"])
            kept = point.thumbs.get(image_id)
            if kept is None:
                continue
            entry = images.setdefault(image_id, {"id": image_id, "categories": [], "splits": []})
            for kind in ("gray", "truth"):
                if kind in kept and kind not in entry:
                    entry[kind] = _data_uri(kept[kind])
            cats = str(row.get("supercategories") or "")
            entry["categories"] = sorted(set(entry["categories"]) | {c for c in cats.split(";") if c})
            if point.split is not None and point.split not in entry["splits"]:
                entry["splits"].append(point.split)
            error = row.get("error")
            cells[image_id] = {"status": str(row.get("status", "")), "error": "" if pd.isna(error) else str(error),
                               "scores": {c: _number(row.get(c)) for c in columns if _number(row.get(c)) is not None},
                               "output": _data_uri(kept["output"]) if "output" in kept else None}
        points.append({"label": point.label, "model": point.model, "split": point.split, "run_id": point.run_id,
                       "cells": cells})
    return {"images": [images[i] for i in sorted(images)], "points": points,
            "columns": [{"name": c, "higher": higher_is_better(c)} for c in columns]}


def _table_html(frame: pd.DataFrame, css: str) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>"
                   for row in frame.itertuples(index=False))
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}"
    return "" if value is None else str(value)


def summary_html(report: ReportInput) -> str:
    """The ranking, the failed points and the plots, as HTML."""
    from harness.report.report_plots import plots

    shown = report.ranking.drop(columns=[c for c in ("run_id",) if c in report.ranking.columns])
    parts = [f"<h2>Ranking by {html.escape(report.metric)}</h2>", _table_html(shown, "ranking")]
    if report.failed:
        items = "".join(f"<li><b>{html.escape(label)}</b><pre>{html.escape(reason)}</pre></li>"
                        for label, reason in report.failed)
        parts.append(f'<h2>Failed points</h2><ul class="failed">{items}</ul>')
    figures = plots(report)
    if figures:
        parts.append("<h2>Plots</h2>" + "".join(
            f'<figure><img alt="{html.escape(name)}" src="{_png(fig)}"><figcaption>{html.escape(name)}</figcaption>'
            f"</figure>" for name, fig in figures))
    return "\n".join(parts)


#: the per-clip columns the clips section shows, each beside its ground-truth level
CLIP_COLUMNS = ("cdc", "warp_error", "flicker", "psnr")


def clips_html(report: ReportInput) -> str:
    """A video sweep's clips: per clip, each point's temporal scores (and the truth's level), then the
    side-by-side previews (gray | output | truth) the points logged, playable in the page."""
    points = [p for p in report.points if p.clips is not None and not p.clips.empty]
    if not points:
        return ""
    frames = []
    for point in points:
        table = point.clips.set_index(point.clips.columns[0])
        keep = [c for name in CLIP_COLUMNS for c in (name, f"{name}_gt") if c in table.columns]
        frames.append(table[keep].add_prefix(f"{point.label}: "))
    joined = pd.concat(frames, axis=1).reset_index()
    parts = ["<h2>Clips</h2>", _table_html(joined, "ranking clips")]
    for point in points:
        for name, data in sorted(point.previews.items()):
            parts.append(f'<figure><video controls muted loop preload="metadata" src="{_data_uri(data, "video/mp4")}">'
                         f"</video><figcaption>{html.escape(point.label)}: {html.escape(name)}</figcaption></figure>")
    return "\n".join(parts)


def _page_file(name: str) -> str:
    return resources.files("harness.report").joinpath("page", name).read_text(encoding="utf-8")


def render_report(report: ReportInput) -> str:
    """The whole report as one HTML document (see the module docstring)."""
    data = json.dumps(gallery_data(report), allow_nan=False).replace("</", "<\\/")
    title = f"{report.experiment}: sweep comparison"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:; media-src data:; '
        'style-src \'unsafe-inline\'; script-src \'unsafe-inline\'">'
        f"<title>{html.escape(title)}</title><style>{_page_file('report.css')}</style></head><body>"
        f"<header><h1>{html.escape(title)}</h1><p>{html.escape(report.sweep)}</p>"
        f"<p class=\"rule\">{html.escape(report.rule)}</p></header>"
        f"<section id=\"summary\">{summary_html(report)}</section>"
        f"<section id=\"clips\">{clips_html(report)}</section>"
        '<section id="gallery"><h2>Gallery</h2><div id="controls"></div><table id="grid"></table></section>'
        '<div id="viewer" hidden></div>'
        f'<script type="application/json" id="report-data">{data}</script>'
        f"<script>{_page_file('report.js')}</script></body></html>"
    )
