"""Every numbered tutorial runs alone with --quick and writes a valid results.json.

Each script runs in its own process, as a reader would run it (``python tutorials/NN_x.py
--quick --out DIR``), so a tutorial that leans on state another one left behind fails here.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.py"))


def test_tutorials_are_numbered_without_gaps():
    numbers = [int(p.name[:2]) for p in SCRIPTS]
    assert numbers == list(range(1, len(numbers) + 1)), [p.name for p in SCRIPTS]


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_tutorial_quick_run(script, tmp_path):
    env = {**os.environ, "MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(script), "--quick", "--out", str(tmp_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{script.name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    payload = json.loads((tmp_path / "results.json").read_text())
    assert payload["tutorial"] == script.stem and payload["quick"] is True
    assert payload["results"], f"{script.name} wrote no results"
    assert payload["expectations"], f"{script.name} never tells the reader what to expect"
    for fig in payload["figures"]:
        assert (tmp_path / fig).is_file(), f"{script.name} lists a figure it did not write: {fig}"
    assert payload["figures"], f"{script.name} saved no figure"
