"""`harness compare --format paper | latex`: a sweep's points in the columns colorization papers print.

FID↓ KID↓ CF ΔCF↓ PSNR↑ SSIM↑ LPIPS↓, in that order, as in DDColor's tables (ICCV 2023) and
its successors; a column appears when some point computed it, or asked for it and could not
(its weights were missing: the cell says so). Means carry their 95% bootstrap CI where the
run logged one, KID its standard deviation over subsets. The best value of each column is in
bold (by the column's direction; CF has none). Footnotes say what a reader must know: FID
below 2,000 images, metrics that were not computed. Works on the runs table; no MLflow here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from harness.metrics import ci_columns
from harness.metrics.fid import FID_RELIABLE_N


@dataclass(frozen=True)
class Column:
    key: str  # summary metric
    header: str
    metric: str  # the metric that produces it (for missing-weights notes)
    lower_better: bool | None
    decimals: int
    spread: str | None = None  # a column shown as ± (KID's std)


COLUMNS = (
    Column("fid", "FID↓", "fid", True, 2),
    Column("kid_mean", "KID↓", "kid", True, 4, spread="kid_std"),
    Column("colorfulness_mean", "CF", "colorfulness", None, 2),
    Column("cf_delta", "ΔCF↓", "colorfulness", True, 2),
    Column("psnr_mean", "PSNR↑", "psnr", False, 2),
    Column("ssim_mean", "SSIM↑", "ssim", False, 4),
    Column("lpips_mean", "LPIPS↓", "lpips", True, 4),
)
FORMATS = ("paper", "latex")


def _value(runs: pd.DataFrame, column: str) -> pd.Series:
    if column not in runs:
        return pd.Series(math.nan, index=runs.index, dtype=float)
    return pd.to_numeric(runs[column], errors="coerce").astype(float)


def _present(runs: pd.DataFrame, col: Column) -> bool:
    return _value(runs, col.key).notna().any() or f"note.{col.metric}" in runs


def _cell(runs: pd.DataFrame, i, col: Column, best: float | None, latex: bool) -> str:
    value = _value(runs, col.key)[i]
    if math.isnan(value):
        note = runs[f"note.{col.metric}"][i] if f"note.{col.metric}" in runs else None
        return "n/a†" if isinstance(note, str) and note.startswith("not computed") else "–"
    text = f"{value:.{col.decimals}f}"
    if best is not None and math.isclose(value, best, rel_tol=0, abs_tol=0.5 * 10 ** -col.decimals):
        text = ("\\textbf{%s}" % text) if latex else f"**{text}**"
    if col.spread is not None and not math.isnan(_value(runs, col.spread)[i]):
        plus_minus = "$\\pm$" if latex else "±"
        text += f" {plus_minus} {_value(runs, col.spread)[i]:.{col.decimals}f}"
    ci = ci_columns(col.key)
    if ci and not math.isnan(_value(runs, ci[0])[i]):
        low, high = (_value(runs, c)[i] for c in ci)
        text += f" [{low:.{col.decimals}f}, {high:.{col.decimals}f}]"
    return text


def _notes(runs: pd.DataFrame, columns: list[Column]) -> list[str]:
    notes = []
    n = _value(runs, "n_fid").dropna()
    if any(c.key == "fid" for c in columns) and len(n) and n.min() < FID_RELIABLE_N:
        sizes = ", ".join(str(int(x)) for x in sorted(set(n)))
        notes.append(f"FID over {sizes} image(s): below {FID_RELIABLE_N:,} FID is strongly biased upward; compare "
                     "only rows with the same number of images, and not with papers' FID on larger sets.")
    for col in columns:
        key = f"note.{col.metric}"
        if key in runs:
            missing = {v for v in runs[key].dropna() if isinstance(v, str) and v.startswith("not computed")}
            for text in sorted(missing):
                notes.append(f"† {col.header.rstrip('↑↓')}: {text}")
    with_ci = any((ci := ci_columns(c.key)) and _value(runs, ci[0]).notna().any() for c in columns)
    notes.append("Best value per column in bold" + ("; [a, b] is the 95% bootstrap CI of the mean over images."
                                                    if with_ci else "."))
    return list(dict.fromkeys(notes))


#: characters LaTeX reads as markup, as text; labels and headers are text (`deoldify[a=1,b=R&D]`)
_LATEX_TEXT = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
               "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
#: the table's own symbols, in LaTeX (applied after escaping, so their markup stays markup)
_LATEX_SYMBOLS = {"↓": "$\\downarrow$", "↑": "$\\uparrow$", "Δ": "$\\Delta$", "†": "$^\\dagger$", "–": "--"}


def latex_text(text: str) -> str:
    """Plain text (a label, a header) as LaTeX: markup characters escaped, the table's symbols typeset."""
    return _latex_symbols("".join(_LATEX_TEXT.get(ch, ch) for ch in text))


def _latex_symbols(text: str) -> str:
    for symbol, latex in _LATEX_SYMBOLS.items():
        text = text.replace(symbol, latex)
    return text


def paper_table(runs: pd.DataFrame, fmt: str = "paper") -> str:
    """The sweep points as a paper table: markdown (`paper`) or a LaTeX tabular (`latex`)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown paper format {fmt!r}")
    latex = fmt == "latex"
    columns = [c for c in COLUMNS if _present(runs, c)]
    best = {}
    for col in columns:
        values = _value(runs, col.key).dropna()
        if col.lower_better is not None and len(values):
            best[col.key] = values.min() if col.lower_better else values.max()
    labels = [str(label) + (f" ({split})" if isinstance(split, str) and f"[split={split}]" not in str(label) else "")
              for label, split in zip(runs["label"], runs.get("split", [None] * len(runs)))]
    rows = [[labels[j]] + [_cell(runs, i, c, best.get(c.key), latex) for c in columns]
            for j, i in enumerate(runs.index)]
    header = ["Method"] + [c.header for c in columns]
    notes = _notes(runs, columns)
    if latex:  # labels and headers are text; cells are LaTeX already (\textbf, $\pm$) but for symbols
        lines = ["% booktabs rules (\\toprule, \\midrule, \\bottomrule): \\usepackage{booktabs} in the preamble",
                 "\\begin{tabular}{l" + "c" * len(columns) + "}", "\\toprule",
                 " & ".join(map(latex_text, header)) + " \\\\", "\\midrule"]
        lines += [" & ".join([latex_text(row[0])] + [_latex_symbols(c) for c in row[1:]]) + " \\\\" for row in rows]
        lines += ["\\bottomrule", "\\end{tabular}"] + [f"% {n}" for n in notes]
        return "\n".join(lines)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + [":---:"] * len(columns)) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines + [""] + notes)
