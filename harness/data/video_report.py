"""What video adds to a run: temporal consistency per frame pair, per clip and per run.

`VideoReporter` is the video source's `Reporter`. The runner calls `score` once per scored
frame, in order within a clip, from one thread at a time; the reporter keeps the last few
scored frames of the current clip (histograms for CDC's d = 1, 2, 4; the previous frame and
its ground truth for the warp error) and writes, in the frame's row, the quantities of the
pairs that end at this frame (`harness.metrics.temporal` defines them):

- `lab_a`, `lab_b`, `lab_chroma`: the frame's mean a*, b* and chroma C* (CIELAB);
- `js_d1`, `js_d2`, `js_d4`: channel-mean JS divergence between the RGB histograms of this
  frame and of the frame d positions earlier;
- `warp_error`: the warp error of the pair (previous frame, this frame), `warp_pixels` its
  unmasked pixel count; `seconds_temporal` the time all this took;
- and each again on the ground truth (`lab_a_gt`, `js_d1_gt`, `warp_error_gt`, ...).

Positions count the evaluated frames of a clip (after `stride`), so "consecutive" and d
are in evaluated frames. A frame that is not scored (it failed to decode or to colorize,
or its ground truth is grayscale, such as a black frame) has no row values, and every pair
it belongs to is missing: the pair of its neighbours, which are not consecutive, is not
formed, while a pair that skips it at d = 2 or 4 still counts. `report` aggregates from
the rows alone (so it can be recomputed after a resume or for a subset of clips): per clip
the mean of each per-frame score, `cdc` (TCVC's weighting over the pairs present; NaN
unless each d has a pair), `warp_error` (mean over the pairs present), `flicker` (over
consecutive scored frames) and their `_gt`; per run their distribution over clips
(`cdc_mean`, `warp_error_mean`, `flicker_mean`, ..., and `_gt`) and `n_clips`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from harness.data.base import Report, Reporter, Sample
from harness.data.video_decode import VIDEO_SUFFIXES
from harness.errors import ImageError
from harness.gray import to_gray
from harness.metrics import metric_names, summarize
from harness.metrics import temporal as tm

if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

#: Per-frame values the reporter writes and aggregates itself (not scores of their own).
FRAME_COLUMNS = tuple(f"{c}{s}" for c in ("lab_a", "lab_b", "lab_chroma", *(f"js_d{d}" for d in tm.DILATIONS),
                                          "warp_error") for s in ("", "_gt")) + ("warp_pixels", "seconds_temporal")
#: Per-clip temporal scores, each with a `_gt` twin.
CLIP_SCORES = tuple(tm.SCORES)


@dataclass
class _Frame:
    """What the pairs ending at later frames need from a scored frame."""

    index: int
    hist: np.ndarray
    hist_gt: np.ndarray
    out: np.ndarray | None = None  # kept for the latest frame only (the warp pair)
    gt: np.ndarray | None = None
    gray: np.ndarray | None = None


class VideoReporter(Reporter):
    """Video's hooks: clip and frame columns, temporal pairs per frame, the per-clip table, previews."""

    columns = ("clip", "frame")
    detail_columns = FRAME_COLUMNS

    def __init__(self, clips: dict[str, list[Sample]], rates: dict[str, float | None], *, preview_frames: int = 90):
        self.clips, self.rates, self.preview_frames = clips, rates, preview_frames
        self._clip: str | None = None
        self._recent: dict[int, _Frame] = {}

    def describe(self, sample: Sample) -> dict[str, Any]:
        return {"clip": sample.meta.get("clip", sample.group), "frame": sample.meta.get("frame")}

    def score(self, sample: Sample, gt: np.ndarray, out: np.ndarray) -> dict[str, float]:
        start = time.perf_counter()
        index = int(sample.meta["index"])
        if sample.group != self._clip or any(i >= index for i in self._recent):
            self._clip, self._recent = sample.group, {}  # another clip, or the same one again (next point)
        gray = to_gray(gt)
        frame = _Frame(index, tm.channel_histograms(out), tm.channel_histograms(gt), out, gt, gray)
        row: dict[str, float] = {}
        for suffix, image in (("", out), ("_gt", gt)):
            row[f"lab_a{suffix}"], row[f"lab_b{suffix}"], row[f"lab_chroma{suffix}"] = tm.chroma_means(image)
        for d in tm.DILATIONS:
            earlier = self._recent.get(index - d)
            row[f"js_d{d}"] = tm.frame_js(earlier.hist, frame.hist) if earlier else float("nan")
            row[f"js_d{d}_gt"] = tm.frame_js(earlier.hist_gt, frame.hist_gt) if earlier else float("nan")
        row.update(_warp(self._recent.get(index - 1), frame))
        for old in self._recent.values():
            old.out = old.gt = old.gray = None
        self._recent = {i: f for i, f in self._recent.items() if i > index - max(tm.DILATIONS)}
        self._recent[index] = frame
        row["seconds_temporal"] = time.perf_counter() - start
        return row

    def report(self, rows: pd.DataFrame, *, seed: int = 0) -> Report:

        table = clip_table(rows)
        timed = _column(rows, "seconds_temporal")
        summary: dict[str, float] = {"n_clips": float(len(table)), "seconds_temporal": float(np.nansum(timed))}
        for name in CLIP_SCORES:
            for column in (name, f"{name}_gt"):
                values = table[column].to_numpy(dtype=float) if column in table else []
                summary.update({f"{column}_{k}": v for k, v in summarize(values, seed=seed).items()})
        ranked = rank_clips(table)
        figures = {}
        if ranked and "lab_chroma" in rows:
            figures["plots/chroma_over_time.png"] = chroma_plot(rows, _extremes(ranked))
        return Report(summary=summary, tables={"per_clip.csv": table}, figures=figures)

    def grid_ids(self, rows: pd.DataFrame, count: int) -> list[tuple[str, str]] | None:
        """Frames from the best and the worst clip (by mean PSNR), evenly spread over each clip."""
        ranked = rank_clips(clip_table(rows))
        if not ranked or count <= 0:
            return None
        chosen = _extremes(ranked)
        ok = rows[rows["status"].astype(str) == "ok"]
        picked: list[tuple[str, str]] = []
        for n, (clip, tag) in enumerate(chosen):
            ids = ok.loc[ok["clip"] == clip, "image_id"].tolist()
            share = count // len(chosen) + (n < count % len(chosen))
            spots = np.unique(np.linspace(0, len(ids) - 1, num=min(share, len(ids))).round().astype(int))
            picked += [(ids[i], tag) for i in spots]
        return picked

    def render(self, rows: pd.DataFrame, colorize: Callable[[list[np.ndarray]], list], *,
               batch_size: int = 8) -> Report:
        """Side-by-side videos (gray | output | ground truth) of the first `preview_frames` frames of the
        best and the worst clip, colorized again here, a batch at a time (`video_io.side_by_side_clip`)."""
        from harness.data.base import TempFiles
        from harness.data.video_encode import side_by_side_clip

        files = TempFiles(prefix="harness-video-")
        ranked = rank_clips(clip_table(rows)) if self.preview_frames else []
        for clip, tag in _extremes(ranked):
            name = f"{_SLUG[tag]}_{_safe(clip)}.mp4"
            try:
                path = side_by_side_clip(self.clips[clip][:self.preview_frames], files.folder / name, colorize,
                                         batch_size=batch_size, fps=self.rates.get(clip) or 24.0,
                                         title=f"{tag}: {clip}")
            except (ImageError, OSError, ValueError) as exc:  # a preview never fails the run
                log.warning("no side-by-side video of %s: %s", clip, exc)
                continue
            if path is not None:
                files[f"videos/{name}"] = path
        return Report(files=files)


_SLUG = {"best clip": "best", "worst clip": "worst", "only clip": "only"}


def _safe(clip: str) -> str:
    """A file-name-safe form of a clip id, without a video suffix (`cars/road.mp4` -> `cars_road`)."""
    stem = clip[: -len(PurePosixPath(clip).suffix)] if PurePosixPath(clip).suffix.lower() in VIDEO_SUFFIXES else clip
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in stem)


def _extremes(ranked: list[str]) -> list[tuple[str, str]]:
    """(clip, tag) for the best and the worst clip; one clip is both."""
    if not ranked:
        return []
    if len(ranked) == 1:
        return [(ranked[0], "only clip")]
    return [(ranked[0], "best clip"), (ranked[-1], "worst clip")]


def _warp(previous: _Frame | None, frame: _Frame) -> dict[str, float]:
    """Warp error of the pair (previous, frame) on the output and on the truth, flow from the truth."""
    nan = {"warp_error": float("nan"), "warp_error_gt": float("nan"), "warp_pixels": 0.0}
    if previous is None or previous.index != frame.index - 1 or previous.gt is None \
            or previous.gt.shape != frame.gt.shape:
        return nan
    flow, valid = tm.pair_flow(previous.gray, frame.gray)
    return {"warp_error": tm.warp_error(previous.out, frame.out, flow, valid),
            "warp_error_gt": tm.warp_error(previous.gt, frame.gt, flow, valid), "warp_pixels": float(valid.sum())}


def score_columns(rows: pd.DataFrame) -> list[str]:
    """The per-frame metric columns of the rows (named after a registered metric: psnr, ssim_...)."""
    names = metric_names()
    return [c for c in rows.columns if any(c == m or str(c).startswith(m + "_") for m in names)
            and pd.api.types.is_numeric_dtype(rows[c])]


def clip_table(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per clip, from the per-frame rows alone (see the module docstring)."""
    if rows.empty or "clip" not in rows:
        return pd.DataFrame(columns=["clip", "frames", "frames_scored", "frames_failed"])
    scores = score_columns(rows)
    records = []
    for clip, group in rows.groupby("clip", sort=False):
        status = group["status"].astype(str)
        ok = group[status == "ok"]
        failed = group[status.str.startswith("failed:")]
        record: dict[str, Any] = {"clip": clip, "frames": len(group), "frames_scored": len(ok),
                                  "frames_failed": len(failed),
                                  "failure": "" if failed.empty else
                                  f"frame {failed['frame'].iloc[0]}: {failed['status'].iloc[0]} "
                                  f"{failed['error'].iloc[0] if 'error' in failed else ''}".rstrip()}
        record.update({c: float(pd.to_numeric(ok[c], errors="coerce").mean()) for c in scores})
        record.update(_clip_temporal(group, status == "ok"))
        records.append(record)
    return pd.DataFrame(records)


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float) if name in frame \
        else np.full(len(frame), np.nan)


def _clip_temporal(group: pd.DataFrame, ok: pd.Series) -> dict[str, float]:
    """cdc, warp_error, flicker (and `_gt`) of one clip's rows, in the clip's frame order."""
    scored = group[ok]
    out: dict[str, float] = {}
    pairs = ok.to_numpy() & np.roll(ok.to_numpy(), 1)
    pairs[:1] = False  # consecutive scored frames: a row and the one before it both scored
    for suffix in ("", "_gt"):
        out[f"cdc{suffix}"] = tm.cdc_from_pairs({d: _column(scored, f"js_d{d}{suffix}") for d in tm.DILATIONS})
        warp = _column(scored, f"warp_error{suffix}")
        out[f"warp_error{suffix}"] = float(np.nanmean(warp)) if np.isfinite(warp).any() else float("nan")
        a, b = _column(group, f"lab_a{suffix}"), _column(group, f"lab_b{suffix}")
        steps = 0.5 * (np.abs(np.diff(a)) + np.abs(np.diff(b)))[pairs[1:]]
        out[f"flicker{suffix}"] = float(steps.mean()) if steps.size else float("nan")
    out["warp_pairs"] = float(np.isfinite(_column(scored, "warp_error")).sum())
    return out


def rank_clips(table: pd.DataFrame) -> list[str]:
    """Clips best first by mean PSNR over their scored frames (clips without one left out);
    ties by clip id. Empty when there is no PSNR."""
    if table.empty or "psnr" not in table:
        return []
    scored = table[table["psnr"].notna()].sort_values(["psnr", "clip"], ascending=[False, True], kind="mergesort")
    return scored["clip"].astype(str).tolist()


def chroma_plot(rows: pd.DataFrame, clips: Sequence[tuple[str, str]]) -> Figure:
    """Per-frame colour of each (clip, tag) over time, output against ground truth: mean chroma C*
    (left) and mean a*, b* (right), from the per-frame columns `lab_chroma`, `lab_a`, `lab_b`
    and their `_gt` twins of a video run's rows (scored frames only)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 2.8 * max(len(clips), 1) + 0.4))
    axes = fig.subplots(max(len(clips), 1), 2, squeeze=False)
    for (clip, tag), (left, right) in zip(clips, axes):
        ok = rows[(rows["status"].astype(str) == "ok") & (rows["clip"] == clip)].sort_values("frame")
        left.plot(ok["frame"], ok["lab_chroma"], color="#c44e52", label="output")
        left.plot(ok["frame"], ok["lab_chroma_gt"], color="black", linestyle="--", label="ground truth")
        left.set_ylabel("mean chroma C*")
        left.set_title(f"{tag}: {clip}", fontsize="medium")
        for channel, color in (("a", "#55a868"), ("b", "#4c72b0")):
            right.plot(ok["frame"], ok[f"lab_{channel}"], color=color, label=f"output mean {channel}*")
            right.plot(ok["frame"], ok[f"lab_{channel}_gt"], color=color, linestyle="--",
                       label=f"truth mean {channel}*")
        right.set_ylabel("mean a*, b*")
        for ax in (left, right):
            ax.set_xlabel("frame")
            ax.legend(loc="best", fontsize="x-small")
    fig.tight_layout()
    return fig
