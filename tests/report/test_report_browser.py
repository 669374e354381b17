"""The sweep's report.html in a real browser: the system's Chromium, driven by Playwright (no browser is
downloaded). A sweep of the grayscale baseline, two tints and a model that fails on wide photos runs
through `harness run`; its report is opened from the file with every request outside it counted."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import tests.fake_models  # noqa: F401 - registers the fake models the spec names
from harness.cli.main import main
from tests.browser import launch, needs_chromium

pytestmark = [pytest.mark.slow, needs_chromium]
SPEC = """
name: report-test
dataset: {source: folder, path: photos}
models:
  - name: grayscale
  - name: fake-tint
    strength: [0.1, 0.4]
  - name: fake-fragile
    min_width: 80
metrics: [psnr, ssim, delta_e]
grids: {count: 0}
"""


def write_photos(root: Path) -> None:
    """Four small colour photos (one in a subfolder: its id holds a '/'), a gray one and a truncated file."""
    import numpy as np
    from PIL import Image

    from tests.conftest import small_photos

    (root / "sub").mkdir(parents=True)
    for name, arr in small_photos().items():
        Image.fromarray(arr).save(root / ("sub" if name.startswith("rocket") else "") / name, quality=95)
    gray = np.asarray(Image.fromarray(small_photos()["astronaut.png"]).convert("L"))
    Image.fromarray(np.repeat(gray[..., None], 3, axis=2)).save(root / "gray_as_rgb.png")
    good = (root / "chelsea.jpg").read_bytes()
    (root / "truncated.jpg").write_bytes(good[: len(good) // 3])


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """The sweep, run once for the module: (its report file, the store, each point's per-image rows)."""
    from mlflow.tracking import MlflowClient

    root = tmp_path_factory.mktemp("report")
    spec = root / "spec.yaml"
    spec.write_text(SPEC.replace("path: photos", f"path: {root / 'photos'}"))
    write_photos(root / "photos")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    assert main(["run", str(spec), "--tracking-uri", uri, "--no-progress"]) == 0
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("report-test")
    runs = client.search_runs([experiment.experiment_id])
    parent = next(r for r in runs if r.data.tags.get("harness.kind") == "sweep")
    report = Path(client.download_artifacts(parent.info.run_id, "report.html", str(root / "dl")))
    rows = {}
    for run in runs:
        if run.data.tags.get("harness.kind") == "point":
            path = client.download_artifacts(run.info.run_id, "per_image.csv", str(root / run.info.run_id))
            rows[run.data.tags["harness.label"]] = pd.read_csv(path, dtype={"image_id": str})
    return report, uri, rows


@pytest.fixture(scope="module")
def page(sweep):
    """The report opened in headless Chromium; `page.outside` lists every request that left the file."""
    from playwright.sync_api import sync_playwright

    report = sweep[0]
    with sync_playwright() as pw:
        browser = launch(pw)
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        outside: list[str] = []
        tab.on("request", lambda r: None if r.url.startswith(("data:", report.as_uri())) else outside.append(r.url))
        errors: list[str] = []
        tab.on("pageerror", lambda e: errors.append(str(e)))
        tab.goto(report.as_uri())
        tab.wait_for_selector("tr.row")
        tab.outside, tab.errors = outside, errors
        yield tab
        browser.close()


def set_range(page, selector: str, value: float) -> None:
    """Move a slider as a user's drag does: its value, then an `input` event."""
    page.eval_on_selector(selector, f"s => {{ s.value = {value}; s.dispatchEvent(new Event('input')); }}")


def ids_shown(page) -> list[str]:
    return page.eval_on_selector_all("tr.row", "rows => rows.map(r => r.dataset.id)")


def test_the_report_is_self_contained_and_shows_every_image_and_score(page, sweep):
    _, _, rows = sweep
    assert page.outside == [] and page.errors == []
    assert len(ids_shown(page)) == 6 and "all 6 images of the sweep" in page.inner_text("header")
    broken = page.eval_on_selector_all("#grid img", "imgs => imgs.filter(i => !(i.complete && i.naturalWidth > 0))"
                                                    ".length")
    images = page.eval_on_selector_all("#grid img", "imgs => imgs.length")
    outputs = sum(int((r["status"] == "ok").sum()) for r in rows.values())
    assert broken == 0 and images == 4 * 2 + outputs  # gray and truth of the 4 colour photos, every output scored
    rocket = page.inner_text('tr.row[data-id="sub/rocket.jpg"]')
    tint = rows["fake-tint[strength=0.4]"].set_index("image_id").loc["sub/rocket.jpg"]
    assert f"psnr {tint['psnr']:.4g}" in rocket  # the per-image score under the output, as logged
    assert "failed:colorize: RuntimeError: image too narrow: 48 px" in rocket  # the failure with its reason
    assert "excluded:grayscale" in page.inner_text('tr.row[data-id="gray_as_rgb.png"]')
    assert "failed:" in page.inner_text('tr.row[data-id="truncated.jpg"]')
    summary = page.inner_text("#summary")
    assert "Ranking by psnr_mean" in summary and "fake-tint[strength=0.4]" in summary
    assert page.eval_on_selector_all("#summary figure img", "imgs => imgs.length") >= 2  # distributions, strength


def test_sorting_and_filtering_change_the_order_as_they_should(page, sweep):
    _, _, rows = sweep
    labels = page.eval_on_selector_all("#grid thead th", "ths => ths.map(t => t.textContent)")[2:-1]
    strong = labels.index("fake-tint[strength=0.4]")
    page.select_option("#sort", f"{strong}|psnr")
    table = rows["fake-tint[strength=0.4]"]
    ok = table[table["status"] == "ok"].sort_values(["psnr", "image_id"], ascending=[False, True])
    assert ids_shown(page)[:len(ok)] == ok["image_id"].tolist()  # best PSNR first, unscored images last
    page.check("#reverse")
    assert ids_shown(page)[:len(ok)] == ok["image_id"].tolist()[::-1]
    page.uncheck("#reverse")
    page.select_option("#sort", f"{strong}|delta_e")  # lower is better: lowest first
    by_delta = ok.sort_values("delta_e")["image_id"].tolist()
    assert ids_shown(page)[:len(ok)] == by_delta

    weak = labels.index("fake-tint[strength=0.1]")  # where does the weak tint beat the strong one most?
    page.select_option("#sort", "diff")
    page.select_option("#diff-a", str(weak))
    page.select_option("#diff-b", str(strong))
    page.select_option("#diff-col", "psnr")
    a = rows["fake-tint[strength=0.1]"].set_index("image_id")["psnr"]
    b = table.set_index("image_id")["psnr"]
    gain = (a - b).dropna().sort_values(ascending=False)
    assert ids_shown(page)[:len(gain)] == gain.index.tolist()

    page.select_option("#status", "failed")
    failed = set(rows["fake-fragile[min_width=80]"].query("status.str.startswith('failed')")["image_id"])
    assert set(ids_shown(page)) == failed and failed >= {"sub/rocket.jpg", "coffee.png", "truncated.jpg"}
    page.select_option("#status", "excluded")
    assert ids_shown(page) == ["gray_as_rgb.png"]
    page.select_option("#status", "")
    assert len(ids_shown(page)) == 6


def test_the_larger_view_has_a_slider_against_the_truth_and_one_zoom(page):
    page.select_option("#sort", "id")
    page.click('tr.row[data-id="chelsea.jpg"] img[data-point="1"]')
    assert page.is_visible("#viewer")
    assert page.eval_on_selector("#slider-top", "i => i.style.clipPath") == "inset(0px 50% 0px 0px)"
    set_range(page, "#slider", 20)
    assert page.eval_on_selector("#slider-top", "i => i.style.clipPath") == "inset(0px 80% 0px 0px)"
    set_range(page, "#zoom", 3)
    box = page.query_selector(".zoombox").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.25, box["y"] + box["height"] * 0.75)
    styles = page.eval_on_selector_all("img.zoomable", "imgs => imgs.map(i => i.style.transform + ' ' + "
                                                       "i.style.transformOrigin)")
    assert len(styles) == 5 and len(set(styles)) == 1 and styles[0].startswith("scale(3) ")  # four points, truth
    x, y = (float(v.rstrip("%")) for v in styles[0].split()[1:])
    assert abs(x - 25) < 1 and abs(y - 75) < 1  # zoomed where the pointer is, in every panel
    page.keyboard.press("Escape")
    assert not page.is_visible("#viewer")


def test_harness_report_writes_the_same_page(sweep, tmp_path, capsys):
    report, uri, _ = sweep
    out = tmp_path / "out" / "report.html"
    assert main(["report", "--tracking-uri", uri, "--out", str(out)]) == 0
    assert "report of experiment 'report-test'" in capsys.readouterr().out
    assert out.read_text() == report.read_text()


def test_a_video_sweeps_report_has_its_clips_scores_and_previews(tmp_path, tracking_uri):
    """Per clip, each point's temporal scores beside the truth's level, and the side-by-side previews
    the points logged, inside the page (no file beside it)."""
    import re

    from harness.tracking.client import Tracker
    from harness.tracking.report_data import build_input
    from tests.conftest import pan_frames, write_clip

    clips = tmp_path / "clips"
    write_clip(clips / "pan.mp4", pan_frames(8))
    write_clip(clips / "still.mp4", pan_frames(8, step=0))
    spec = tmp_path / "video.yaml"
    spec.write_text(f"""
name: report-video
dataset: {{source: video, path: {clips}, preview_frames: 4}}
models:
  - name: grayscale
  - name: fake-tint
    strength: 0.3
metrics: [psnr]
grids: {{count: 2}}
""")
    assert main(["run", str(spec), "--tracking-uri", tracking_uri, "--no-progress"]) == 0
    report = build_input(Tracker("report-video", tracking_uri, create=False))
    tint = next(p for p in report.points if p.model == "fake-tint")
    assert set(tint.clips["clip"]) == {"pan.mp4", "still.mp4"} and tint.previews
    out = tmp_path / "report.html"
    assert main(["report", "--tracking-uri", tracking_uri, "--out", str(out)]) == 0
    page = out.read_text()
    assert "<h2>Clips</h2>" in page and "fake-tint[strength=0.3]: flicker_gt" in page
    flicker = tint.clips.set_index("clip").loc["pan.mp4", "flicker"]
    assert f"{flicker:.4g}" in page
    videos = re.findall(r'<video [^>]*src="data:video/mp4;base64,', page)
    assert len(videos) == sum(len(p.previews) for p in report.points) >= 2
