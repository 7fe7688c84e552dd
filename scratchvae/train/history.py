"""Training history: one record per epoch, saved as JSON and CSV (atomically)."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from ..atomic import atomic_write_text


def save_history(history: list[dict], out_dir) -> None:
    """Write ``history.json`` and ``history.csv`` in ``out_dir``."""
    out_dir = Path(out_dir)
    atomic_write_text(out_dir / "history.json", json.dumps(history, indent=1))
    if not history:
        return
    fields = list(dict.fromkeys(k for rec in history for k in rec))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields)
    writer.writeheader()
    writer.writerows(history)
    atomic_write_text(out_dir / "history.csv", buf.getvalue())
