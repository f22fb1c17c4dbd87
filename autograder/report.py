"""Tutor report: ``python -m autograder report`` writes ``autograder/report/index.html`` from the gradebook.

Per lab: the score distribution (histogram), the pass rate of every test cell (bar chart; a cell nobody passes is
usually a broken test, one everybody passes may be too lax), the slowest submissions, and every submission that
stopped early or was flagged. Plots are embedded PNGs, so the file can be mailed around.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

from autograder import course, deadlines, gradebook, similarity


def _figure_png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _plots(lab: str, rows: list[dict]) -> tuple[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    maximum = max(row["max_total"] for row in rows) or 1
    figure, axis = plt.subplots(figsize=(5, 3))
    axis.hist([row["total"] for row in rows], bins=min(20, max(5, len(rows))), range=(0, maximum), color="#4c72b0")
    axis.set(title=f"{lab}: scores ({len(rows)} submissions)", xlabel=f"score (of {maximum:g})", ylabel="students")
    histogram = _figure_png(figure)
    plt.close(figure)

    cells = list(dict.fromkeys(cell for row in rows for cell in row["max_scores"]))
    rates = [pass_rate(rows, cell) for cell in cells]
    figure, axis = plt.subplots(figsize=(5, 0.4 * len(cells) + 1))
    axis.barh(cells, [100 * rate for rate in rates], color="#55a868")
    axis.set(title=f"{lab}: pass rate per test cell", xlabel="% of submissions with full points", xlim=(0, 100))
    axis.invert_yaxis()
    bars = _figure_png(figure)
    plt.close(figure)
    return histogram, bars


def pass_rate(rows: list[dict], cell: str) -> float:
    full = [row for row in rows if row["scores"].get(cell, 0) >= row["max_scores"].get(cell, 0) > 0]
    return len(full) / len(rows) if rows else 0.0


def graded_by_hand(rows: list[dict]) -> str:
    """Autograded and manual points side by side, and the answers still to be graded in formgrader."""
    if not any(row.get("manual_max") for row in rows):
        return ""
    waiting = sum(len(row["ungraded"]) for row in rows)
    parts = [
        f"<h3>Graded by hand</h3><p>{waiting} answer(s) still to be graded in formgrader (<code>make formgrader"
        "</code>, menu Nbgrader, Formgrader); until then they count 0.</p><table><tr>"
        "<th>student</th><th>autograded</th><th>by hand</th><th>total</th><th>to be graded</th></tr>"
    ]
    for row in rows:
        auto_max = row["max_total"] - row["manual_max"]
        parts.append(f"<tr><td>{html.escape(row['student'])}</td><td>{row['auto_total']:g} / {auto_max:g}</td>"
                     f"<td>{row['manual_total']:g} / {row['manual_max']:g}</td><td>{row['total']:g} / "
                     f"{row['max_total']:g}</td><td>{html.escape(', '.join(row['ungraded']))}</td></tr>")  # fmt: skip
    return "".join(parts) + "</table>"


def build(db: Path = course.COURSE_DB, slowest: int = 10, deadlines_file: Path | None = None) -> str:
    """The report as one HTML page (late penalties by ``deadlines_file``, default autograder/deadlines.toml)."""
    rows = gradebook.load_results(db)
    due = deadlines.load(deadlines_file)
    labs = sorted({row["lab"] for row in rows})
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Grading report</title><style>"
        "body{font-family:sans-serif;max-width:1100px;margin:auto} table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left} .plots img{margin-right:12px}"
        "</style></head><body><h1>Grading report</h1>",
        f"<p>{len(rows)} graded submission(s) in {len(labs)} lab(s), from {html.escape(gradebook.shown(db))}.</p>",
    ]
    unsandboxed = [row for row in rows if (row.get("sandbox") or "").startswith("UNSANDBOXED")]
    if unsandboxed:
        parts.append(f"<p style='color:red'><b>{len(unsandboxed)} submission(s) were graded WITHOUT the sandbox"
                     f"</b>: {html.escape(unsandboxed[0]['sandbox'])}</p>")  # fmt: skip
    for lab in labs:
        lab_rows = [row for row in rows if row["lab"] == lab]
        totals = sorted(row["total"] for row in lab_rows)
        mean = sum(totals) / len(totals)
        median = totals[len(totals) // 2]
        histogram, bars = _plots(lab, lab_rows)
        maximum = max(row["max_total"] for row in lab_rows)
        parts.append(f"<h2>{html.escape(lab)}</h2><p>mean {mean:.2f}, median {median:g} of "
                     f"{maximum:g} points; {len(lab_rows)} submissions.</p>")  # fmt: skip
        parts.append(f"<div class='plots'><img src='{histogram}' alt='score histogram'>"
                     f"<img src='{bars}' alt='pass rate per test cell'></div>")  # fmt: skip
        parts.append("<h3>Pass rate per test cell</h3><table><tr><th>test cell</th><th>points</th>"
                     "<th>pass rate</th><th>most common failure</th></tr>")  # fmt: skip
        cell_points = {cell: points for row in lab_rows for cell, points in row["max_scores"].items()}
        for cell, points in cell_points.items():
            failures = [row["messages"].get(cell) for row in lab_rows if row["messages"].get(cell)]
            common = max(set(failures), key=failures.count) if failures else ""
            rate = 100 * pass_rate(lab_rows, cell)
            parts.append(f"<tr><td>{html.escape(cell)}</td><td>{points:g}</td>"
                         f"<td>{rate:.0f}%</td><td>{html.escape(common[:150])}</td></tr>")  # fmt: skip
        parts.append("</table>")
        parts.append(graded_by_hand(lab_rows))
        parts.append("<h3>Slowest submissions</h3><table><tr><th>student</th><th>seconds</th><th>score</th>"
                     "<th>stopped</th></tr>")  # fmt: skip
        for row in sorted(lab_rows, key=lambda row: -row["seconds"])[:slowest]:
            parts.append(f"<tr><td>{html.escape(row['student'])}</td><td>{row['seconds']:.1f}</td>"
                         f"<td>{row['total']:g}</td><td>{html.escape(row['reason'] or '')}</td></tr>")  # fmt: skip
        parts.append("</table>")
        attention = [row for row in lab_rows if row["problems"] or row["reason"]]
        if attention:
            parts.append("<h3>Needs a tutor's look</h3><table><tr><th>student</th><th>score</th><th>why</th></tr>")
            for row in attention:
                why = "; ".join(filter(None, [row["reason"], *row["problems"]]))
                parts.append(f"<tr><td>{html.escape(row['student'])}</td><td>{row['total']:g}</td>"
                             f"<td>{html.escape(why[:400])}</td></tr>")  # fmt: skip
            parts.append("</table>")
        parts.append(deadlines.html_section(lab, db, lab_rows, due))
        parts.append(similarity.html_section(lab, similarity.folder(db)))
    parts.append("</body></html>")
    return "\n".join(parts)


def write(db: Path = course.COURSE_DB, target: Path = course.AUTOGRADER_DIR / "report",
          deadlines_file: Path | None = None) -> Path:  # fmt: skip
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    path = target / "index.html"
    path.write_text(build(db, deadlines_file=deadlines_file))
    return path
