"""Similarity report: pairs of submissions whose answers (solution cells) are near-identical.

``python -m autograder similarity LAB SUBMISSIONS`` (also run by ``grade``) writes
``autograder/similarity/<lab>.json``; the tutor report lists its pairs with the two cells side by side.

How a pair is scored (winnowing, Schleimer, Wilkerson and Aiken, SIGMOD 2003, the idea behind MOSS):

1. Only solution cells count, matched by ``grade_id`` to the lab's source notebook. The template the student starts
   from (everything outside ``### BEGIN/END SOLUTION`` plus nbgrader's stub) never counts: its lines are removed
   from every answer before fingerprinting, so untouched notebooks have nothing in common.
2. Code is normalised with Python's ``tokenize``: every name that is not a keyword or builtin becomes ``N``, strings
   ``S``, numbers ``0``; comments, blank lines, indentation and spacing are dropped. Renaming variables, rewording
   comments or reformatting therefore changes nothing. Markdown answers are lower-cased words.
3. Each run of ``K`` normalised tokens is hashed; in every window of ``WINDOW`` consecutive hashes the smallest is
   kept (a fingerprint). A fingerprint that more than half of the submissions share (from 4 submissions on) is the
   obvious way to write that line and is ignored too.
4. A pair's score is the Jaccard index of their fingerprint sets (each fingerprint tagged with its cell), per cell
   and over all solution cells. Pairs scoring at least ``threshold`` (default 0.8) over at least ``MIN_FINGERPRINTS``
   fingerprints are flagged. Answers whose own code (template removed) is byte-identical are flagged for certain,
   whatever their length.

A flag is a reason to look, not a verdict: short answers written the natural way can match.
"""

from __future__ import annotations

import builtins
import hashlib
import html
import io
import itertools
import json
import keyword
import tokenize
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

K = 5  # tokens per hashed run: shorter runs match by chance, longer ones miss small edits
WINDOW = 4  # any match of K + WINDOW - 1 tokens is guaranteed to be found
MIN_FINGERPRINTS = 8  # below this the answers are too short to tell copying from the obvious answer
DEFAULT_THRESHOLD = 0.8
KEEP_NAMES = set(keyword.kwlist) | set(dir(builtins)) | {"self"}
STUB_LINES = {"# YOUR CODE HERE", "raise NotImplementedError()", "YOUR ANSWER HERE"}


def normalised_tokens(source: str, cell_type: str = "code") -> list[str]:
    """The tokens of ``source`` with names, literals, comments and layout normalised away (see the module doc)."""
    if cell_type != "code":
        return [word for word in "".join(ch.lower() if ch.isalnum() else " " for ch in source).split()]
    tokens = []
    previous = ""
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            kind, text = token.type, token.string
            if kind in (tokenize.COMMENT, tokenize.NL, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER):
                continue
            if kind == tokenize.NEWLINE:
                text = ";"
            elif kind == tokenize.NAME and text not in KEEP_NAMES and previous != ".":
                text = "N"  # a local name; attribute names (np.mean, .shape) are the API and stay
            elif kind == tokenize.STRING or kind in _FSTRING_TOKENS:
                text = "S"
            elif kind == tokenize.NUMBER:
                text = "0"
            previous = token.string
            tokens.append(text)
    except (tokenize.TokenError, IndentationError, SyntaxError):  # unfinished code: compare what tokenized
        pass
    return tokens


_FSTRING_TOKENS = {getattr(tokenize, name) for name in ("FSTRING_START", "FSTRING_MIDDLE", "FSTRING_END")
                   if hasattr(tokenize, name)}  # fmt: skip


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def fingerprints(tokens: list[str], k: int = K, window: int = WINDOW) -> set[int]:
    """Winnowing: the smallest hash of every window of ``window`` consecutive ``k``-token hashes."""
    hashes = [_hash(" ".join(tokens[i : i + k])) for i in range(len(tokens) - k + 1)]
    if len(hashes) <= window:
        return set(hashes)
    return {min(hashes[i : i + window]) for i in range(len(hashes) - window + 1)}


def template_cells(source_notebook: Path) -> dict[str, tuple[str, str]]:
    """``grade_id -> (cell type, template source)`` of every solution cell: what the student copy starts with."""
    from nbgrader.utils import is_solution

    notebook = nbformat.read(source_notebook, as_version=4)
    cells = {}
    for cell in notebook.cells:
        if not is_solution(cell):
            continue
        lines, inside = [], False
        for line in cell.source.splitlines():
            marker = line.strip()
            if marker == "### BEGIN SOLUTION":
                inside = True
            elif marker == "### END SOLUTION":
                inside = False
            elif not inside:
                lines.append(line)
        cells[cell.metadata["nbgrader"]["grade_id"]] = (cell.cell_type, "\n".join(lines))
    return cells


def own_code(source: str, template: str) -> str:
    """``source`` without the template's lines and nbgrader's stub: what the student wrote."""
    given = {line.strip() for line in template.splitlines()} | STUB_LINES
    return "\n".join(line for line in source.splitlines() if line.strip() and line.strip() not in given)


@dataclass
class Answers:
    """One submission's solution cells: source, own code and fingerprints per grade_id."""

    student: str
    sources: dict[str, str] = field(default_factory=dict)
    own: dict[str, str] = field(default_factory=dict)
    prints: dict[str, set[int]] = field(default_factory=dict)

    def tagged(self, ignored: set[tuple[str, int]] = frozenset()) -> set[tuple[str, int]]:
        return {(cell, p) for cell, prints in self.prints.items() for p in prints} - ignored


def read_answers(student: str, notebook_bytes: bytes, templates: dict[str, tuple[str, str]]) -> Answers:
    answers = Answers(student)
    try:
        notebook = nbformat.reads(notebook_bytes.decode("utf-8"), as_version=4)
    except Exception:  # an unreadable notebook has no answers to compare (grading reports it)
        return answers
    for cell in notebook.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id not in templates or grade_id in answers.sources:
            continue
        cell_type, template = templates[grade_id]
        answers.sources[grade_id] = cell.source
        answers.own[grade_id] = own_code(cell.source, template)
        answers.prints[grade_id] = fingerprints(normalised_tokens(answers.own[grade_id], cell_type))
    return answers


@dataclass
class Pair:
    a: str
    b: str
    score: float
    identical: bool
    fingerprints: int
    cells: list[dict]  # {"cell", "score", "a", "b"}: per solution cell, the two sources


def _jaccard(first: set, second: set) -> float:
    union = first | second
    return len(first & second) / len(union) if union else 0.0


def compare(
    submissions: dict[str, bytes], source_notebook: Path, threshold: float = DEFAULT_THRESHOLD
) -> tuple[list[Pair], int]:
    """Flagged pairs, most similar first, and how many submissions were compared."""
    templates = template_cells(source_notebook)
    everyone = [read_answers(student, blob, templates) for student, blob in sorted(submissions.items())]
    counts: dict[tuple[str, int], int] = {}
    for answers in everyone:
        for tagged in answers.tagged():
            counts[tagged] = counts.get(tagged, 0) + 1
    common = {t for t, n in counts.items() if n > len(everyone) / 2} if len(everyone) >= 4 else set()
    tagged = {answers.student: answers.tagged(common) for answers in everyone}
    own_hash = {
        a.student: hashlib.sha256(json.dumps(sorted(a.own.items())).encode()).hexdigest()
        for a in everyone
        if any(a.own.values())
    }
    pairs = []
    for first, second in itertools.combinations(everyone, 2):
        identical = own_hash.get(first.student) is not None and own_hash.get(first.student) == own_hash.get(
            second.student
        )
        union = tagged[first.student] | tagged[second.student]
        score = _jaccard(tagged[first.student], tagged[second.student])
        if not identical and (len(union) < MIN_FINGERPRINTS or score < threshold):
            continue
        cells = [
            {
                "cell": cell,
                "score": round(_jaccard(first.prints.get(cell, set()), second.prints.get(cell, set())), 3),
                "a": first.sources.get(cell, ""),
                "b": second.sources.get(cell, ""),
            }
            for cell in templates
            if first.own.get(cell) or second.own.get(cell)
        ]
        pairs.append(Pair(first.student, second.student, round(1.0 if identical else score, 3), identical,
                          len(union), cells))  # fmt: skip
    pairs.sort(key=lambda pair: (-pair.identical, -pair.score, pair.a, pair.b))
    return pairs, len(everyone)


def folder(db: Path | str) -> Path:
    """Where the similarity reports of the course whose gradebook is ``db`` live: its course folder's similarity/."""
    from autograder.gradebook import course_root

    return course_root(db) / "similarity"


def report_path(lab: str, folder: Path) -> Path:
    return Path(folder) / f"{lab}.json"


def write(lab: str, submissions: dict[str, bytes], source_notebook: Path, folder: Path,
          threshold: float = DEFAULT_THRESHOLD) -> Path:  # fmt: skip
    """Compare ``submissions`` and write ``<folder>/<lab>.json`` atomically (read by the tutor report)."""
    pairs, compared = compare(submissions, source_notebook, threshold)
    path = report_path(lab, folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"lab": lab, "threshold": threshold, "compared": compared, "pairs": [asdict(pair) for pair in pairs]}
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(data, indent=1))
    temporary.replace(path)
    return path


def load(lab: str, folder: Path) -> dict | None:
    path = report_path(lab, folder)
    return json.loads(path.read_text()) if path.exists() else None


def html_section(lab: str, folder: Path) -> str:
    """The report's "Similar submissions" section for ``lab`` (empty when no comparison was run)."""
    data = load(lab, folder)
    if data is None:
        return ""
    pairs = data["pairs"]
    parts = [
        f"<h3>Similar submissions</h3><p>{data['compared']} submission(s) compared; {len(pairs)} pair(s) at or above "
        f"{data['threshold']:.0%} (names, comments and layout normalised; template code excluded). "
        "A flag is a reason to look, not a verdict.</p>"
    ]
    for pair in pairs:
        verdict = "identical own code (certain)" if pair["identical"] else f"score {pair['score']:.0%}"
        parts.append(f"<h4>{html.escape(pair['a'])} &amp; {html.escape(pair['b'])}: {verdict}</h4><table>"
                     f"<tr><th>cell</th><th>score</th><th>{html.escape(pair['a'])}</th>"
                     f"<th>{html.escape(pair['b'])}</th></tr>")  # fmt: skip
        for cell in pair["cells"]:
            parts.append(f"<tr><td>{html.escape(cell['cell'])}</td><td>{cell['score']:.0%}</td>"
                         f"<td><pre>{html.escape(cell['a'])}</pre></td><td><pre>{html.escape(cell['b'])}</pre></td>"
                         "</tr>")  # fmt: skip
        parts.append("</table>")
    return "\n".join(parts)
