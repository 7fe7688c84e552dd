"""benchmarks/fresh_runs.py: the figures it takes from each run, medians and ranges over
runs, the targets on the medians, and a rebuild from the JSON files (--report-only),
on synthetic run results (no benchmark is started)."""
import importlib
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def fr():
    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module("fresh_runs")
    finally:
        sys.path.remove(str(BENCH))


def _runs(scale):
    """One (vs_pytorch, conv_vae) result pair; ``scale`` multiplies our times."""
    step = lambda ours, torch: {"median_s": {"numba": ours * scale, "torch": torch},  # noqa: E731
                                "vs_torch": {"numba": ours * scale / torch},
                                "vs_floor": {"numba": 2.0 * scale}}
    agg = {k: {"numba_vs_openblas": 0.8 / scale} for k in ("both", "MLP VAE", "conv VAE")}
    vs = {"steps": {"MLP VAE": step(0.006, 0.010), "conv VAE": step(0.040, 0.050)},
          "gemm": {"aggregate": agg, "shapes": [
              {"M": 128, "K": 20, "N": 400, "layout": "nn", "numba_vs_openblas": 0.5 / scale},
              {"M": 128, "K": 784, "N": 400, "layout": "nn", "numba_vs_openblas": 1.2}]},
          "fresh_run": {"load_before": 0.3, "load_after": 0.5}}
    conv = {"layers": {"Conv2d(32,64,4,2,1) 14×14": {"median_s": {
        "numba": 0.010 * scale, "im2col": 0.014, "torch": 0.011}}},
        "fresh_run": {"load_before": 0.5, "load_after": 0.4}}
    return vs, conv


def test_medians_ranges_and_targets(fr):
    runs = {2: [_runs(s) for s in (1.0, 1.1, 0.9)]}
    table = fr.summarize(runs)[2]
    med, lo, hi, n = table["conv VAE step ÷ PyTorch"]
    assert (n, round(med, 4), round(lo, 4), round(hi, 4)) == (3, 0.8, 0.72, 0.88)
    assert table["GEMM ÷ OpenBLAS, worst shape"][0] == pytest.approx(0.5)
    assert table["Conv2d(32,64,4,2,1) 14×14, im2col path ÷ PyTorch"][0] == pytest.approx(14 / 11)
    text = fr.report(runs, {"cpu": "test CPU", "logical_cpus": 2, "python": "3", "numpy": "2",
                            "numba": "0", "caches": {"l1d": 49152, "l2": 2097152}}, "cmd")
    row = next(line for line in text.splitlines() if line.startswith("| conv VAE step ÷ PyTorch"))
    assert "0.80 [0.72–0.88]" in row and "<= 0.8: met" in row
    row = next(line for line in text.splitlines() if line.startswith("| MLP VAE step ÷ PyTorch"))
    assert "<= 0.6: met" in row                                  # 0.6 exactly: met
    row = next(line for line in text.splitlines()
               if line.startswith("| Conv2d(32,64,4,2,1) 14×14 ÷ PyTorch"))
    assert "<= 1.0: met" in row
    assert "128×20×400 nn" in text and "L2 2048 KiB" in text and "load average 0.30–0.50" in text


def test_report_only_rebuilds_from_the_json_files(fr, tmp_path, capsys):
    for r, scale in enumerate((1.0, 1.2, 0.8), start=1):
        vs, conv = _runs(scale)
        (tmp_path / f"vs_pytorch-t2-r{r}.json").write_text(json.dumps(vs))
        (tmp_path / f"conv_vae-t2-r{r}.json").write_text(json.dumps(conv))
    assert fr.main(["--runs", "3", "--threads", "2", "--out", str(tmp_path),
                    "--report-only"]) == 0
    out = capsys.readouterr().out
    assert "over 3 fresh processes" in out and "0.80 [0.64–0.96]" in out
    with pytest.raises(SystemExit):
        fr.main(["--runs", "0", "--out", str(tmp_path)])
