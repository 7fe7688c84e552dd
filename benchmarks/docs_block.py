"""Writing a benchmark's table into docs/benchmarks.md, between its two marker lines.

Each script that documents itself owns one block of docs/benchmarks.md:

    <!-- name.py:begin -->
    ...the script's generated markdown...
    <!-- name.py:end -->

``--write-docs`` replaces what is between the markers and leaves the rest of the page
(the prose around the tables) alone.

    replace_marked_block(doc, text, begin, end)   the page with the block replaced
    write_block(text, begin, end, path, heading, append)
                                                  the same, on a file; when the page
                                                  has no markers yet, append the block
                                                  at the end (under ``heading``)
"""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "benchmarks.md"


def replace_marked_block(doc: str, text: str, begin: str, end: str) -> str:
    """doc with everything between the begin and end markers replaced by text (markers
    kept). ValueError when a marker is missing or they are out of order."""
    i, j = doc.find(begin), doc.find(end)
    if i < 0 or j < 0 or j < i:
        raise ValueError(f"markers {begin} … {end} not found (in that order)")
    return doc[:i] + f"{begin}\n{text}\n{end}" + doc[j + len(end):]


def write_block(text: str, begin: str, end: str, path=DOCS, heading: str | None = None,
                append: bool = True) -> None:
    """Replace the block between ``begin`` and ``end`` in ``path`` (default
    docs/benchmarks.md) with ``text``. Without the begin marker, append the block at the
    end, under ``heading`` when one is given -- or, with ``append=False``, raise
    ValueError as :func:`replace_marked_block` does."""
    path = Path(path)
    doc = path.read_text()
    if begin in doc or not append:
        doc = replace_marked_block(doc, text, begin, end)
    else:
        doc = doc.rstrip() + "\n\n" + (f"{heading}\n\n" if heading else "") \
            + f"{begin}\n{text}\n{end}" + "\n"
    path.write_text(doc)
