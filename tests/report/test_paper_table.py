"""`harness compare --format paper | latex`: the columns papers print, best in bold, CIs, the caveats."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from harness.report.paper_table import paper_table

ROOT = Path(__file__).resolve().parents[2]
RUNS = pd.DataFrame([
    {"label": "grayscale", "split": None, "fid": 40.1234, "n_fid": 500.0, "kid_mean": 0.03, "kid_std": 0.002,
     "colorfulness_mean": 0.0, "cf_delta": 36.9, "psnr_mean": 23.5, "psnr_ci95_low": 23.0, "psnr_ci95_high": 24.0,
     "ssim_mean": 0.91, "ssim_ci95_low": 0.9, "ssim_ci95_high": 0.92},
    {"label": "deoldify-artistic", "split": None, "fid": 20.5, "n_fid": 500.0, "kid_mean": 0.01, "kid_std": 0.001,
     "colorfulness_mean": 30.2, "cf_delta": 6.7, "psnr_mean": 22.1, "psnr_ci95_low": 21.5, "psnr_ci95_high": 22.6,
     "ssim_mean": 0.88, "ssim_ci95_low": 0.87, "ssim_ci95_high": 0.89, "note.lpips": "not computed: weights missing"},
])


def test_markdown_table_has_the_papers_columns_and_bolds_the_best():
    text = paper_table(RUNS, "paper")
    lines = text.splitlines()
    assert lines[0] == "| Method | FID↓ | KID↓ | CF | ΔCF↓ | PSNR↑ | SSIM↑ | LPIPS↓ |"
    gray, art = lines[2], lines[3]
    assert gray.startswith("| grayscale | 40.12 | 0.0300 ± 0.0020 | 0.00 | 36.90 | **23.50** [23.00, 24.00] |")
    assert "| **20.50** | **0.0100** ± 0.0010 | 30.20 | **6.70** |" in art  # lower is better for FID, KID, ΔCF
    assert "**30.20**" not in art  # CF has no better direction
    assert art.endswith("| n/a† |")  # LPIPS asked for, not computed
    assert any("below 2,000 FID is strongly biased" in line and "500" in line for line in lines)
    assert "† LPIPS: not computed: weights missing" in text


def test_latex_table_is_a_tabular_with_the_same_cells():
    text = paper_table(RUNS, "latex")
    first, second = text.splitlines()[:2]
    assert first.startswith("% booktabs") and "\\usepackage{booktabs}" in first  # what \toprule needs
    assert second == "\\begin{tabular}{lccccccc}" and "\\end{tabular}" in text
    assert "FID$\\downarrow$ & KID$\\downarrow$ & CF & $\\Delta$CF$\\downarrow$" in text
    assert "deoldify-artistic & \\textbf{20.50} & \\textbf{0.0100} $\\pm$ 0.0010" in text
    assert "n/a$^\\dagger$" in text and "% FID over 500 image(s)" in text


def test_latex_labels_are_escaped_and_the_tables_markup_is_not():
    runs = RUNS.assign(label=["gray & co #1", "m[x=50%,y=$5,z={a_b}]~^\\"])
    text = paper_table(runs, "latex")
    assert "gray \\& co \\#1 & 40.12 &" in text
    assert ("m[x=50\\%,y=\\$5,z=\\{a\\_b\\}]\\textasciitilde{}\\textasciicircum{}\\textbackslash{} & "
            "\\textbf{20.50} & \\textbf{0.0100} $\\pm$ 0.0010") in text
    assert "PSNR$\\uparrow$" in text and "n/a$^\\dagger$" in text


def test_the_ci_footnote_only_when_some_cell_has_a_ci():
    assert "[a, b] is the 95% bootstrap CI" in paper_table(RUNS, "paper")
    without = paper_table(RUNS[["label", "split", "fid", "n_fid", "cf_delta"]], "paper")
    assert "Best value per column in bold." in without and "bootstrap CI" not in without


def test_columns_nobody_computed_are_left_out():
    text = paper_table(RUNS[["label", "split", "psnr_mean", "ssim_mean"]], "paper")
    assert text.splitlines()[0] == "| Method | PSNR↑ | SSIM↑ |"
    assert not any("FID" in line for line in text.splitlines())


@pytest.mark.slow
def test_paper_spec_offline_from_a_clone_prints_the_table_with_missing_metrics_said(tmp_path):
    """experiments/paper.yaml from a clone with no `../shared` and no weights anywhere: it runs on the
    harness's own sample, DeOldify fails, FID/KID/LPIPS are left out of the baseline (said once, in
    full), the rest is computed, and the paper table says which are missing."""
    work = tmp_path / "checkout"
    (work / "experiments").mkdir(parents=True)
    shutil.copy(ROOT / "experiments" / "paper.yaml", work / "experiments")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HARNESS_OFFLINE": "1", "HARNESS_HOME": str(tmp_path / "home")}

    def harness(*args):
        return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=work, env=env, capture_output=True,
                              text=True, timeout=600)

    ran = harness("run", "experiments/paper.yaml", "--no-progress")
    assert ran.returncode == 1, ran.stderr
    assert "[data] writing the harness's coco sample to data/sample/coco" in ran.stderr
    assert ran.stderr.count("[missing] metric fid (left out of every point)") == 1
    assert "pt_inception-2015-12-05-6726825d.pth" in ran.stderr and "alexnet-owt-7be5be79.pth" in ran.stderr
    assert "[done] grayscale[split=all]: " in ran.stderr and "(without fid, kid, lpips: weights missing" in ran.stderr
    assert "[failed] deoldify-artistic" in ran.stderr
    table = harness("compare", "--format", "paper")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0] == "| Method | FID↓ | KID↓ | CF | ΔCF↓ | PSNR↑ | SSIM↑ | LPIPS↓ |"
    gray = next(line for line in lines if line.startswith("| grayscale[split=all] |"))
    cells = [c.strip() for c in gray.strip("|").split("|")]
    assert cells[1] == cells[2] == cells[7] == "n/a†" and cells[3].startswith("0.00 ")  # gray has no colour
    assert not math.isnan(float(cells[5].split()[0].strip("*")))  # PSNR computed, at 256x256
    assert any(line.startswith("† FID: not computed: Weights for fid-inception") for line in lines)
    assert "deoldify-artistic[" in table.stdout and "failed" in table.stdout  # the failed point is listed
    assert harness("compare", "--format", "latex").stdout.splitlines()[1].startswith("\\begin{tabular}")
