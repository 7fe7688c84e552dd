"""benchmarks/vs_pytorch.py and its hand count of the steps' GEMMs (benchmarks/step_gemms.py):
the step FLOP counts against a hand count and against the GEMMs a real step runs, the shape
lists, the aggregates, the target logic, the docs marker replacement, and the JSON of a tiny
run (no torch, timing stubbed out)."""
import importlib
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _bench_module(name):
    """A module of benchmarks/ (its folder is put on sys.path only while it imports)."""
    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCH))


@pytest.fixture(scope="module")
def vp():
    """The benchmark script."""
    return _bench_module("vs_pytorch")


@pytest.fixture(scope="module")
def sg():
    """The hand count of the steps' GEMMs that the script's FLOP floor uses."""
    return _bench_module("step_gemms")


# ------------------------------------------------------------------ FLOP counts
def test_mlp_vae_gemms_by_hand(sg):
    B = 128
    expected = [   # (M, K, N, layout) in the order linear_gemms lists them, layer by layer
        (B, 784, 400, "nn"), (784, B, 400, "tn"),                        # Linear(784,400), no dx
        (B, 400, 40, "nn"), (B, 40, 400, "nt"), (400, B, 40, "tn"),      # Linear(400,40)
        (B, 20, 400, "nn"), (B, 400, 20, "nt"), (20, B, 400, "tn"),      # Linear(20,400)
        (B, 400, 784, "nn"), (B, 784, 400, "nt"), (400, B, 784, "tn"),   # Linear(400,784)
    ]
    gemms = sg.mlp_vae_gemms()
    assert [sg.gemm_key(g) for g in gemms] == expected
    # 2·B·(784·400·2 + 400·40·3 + 20·400·3 + 400·784·3) = 256 · 1,640,000
    assert sum(map(sg.gemm_flops, gemms)) == 419_840_000


def test_conv_vae_gemms_by_hand(sg):
    B = 128
    R1, R2 = B * 14 * 14, B * 7 * 7          # 25088 and 6272 patch rows / input pixels
    expected = [
        (R1, 16, 32, "nt"), (32, R1, 16, "tn"),                        # Conv2d(1,32), no dx
        (R2, 512, 64, "nt"), (64, R2, 512, "tn"), (R2, 64, 512, "nn"),  # Conv2d(32,64)
        (B, 3136, 40, "nn"), (B, 40, 3136, "nt"), (3136, B, 40, "tn"),  # Linear(3136,40)
        (B, 20, 3136, "nn"), (B, 3136, 20, "nt"), (20, B, 3136, "tn"),  # Linear(20,3136)
        (R2, 64, 512, "nn"), (R2, 512, 64, "nt"), (64, R2, 512, "tn"),  # ConvT(64,32) 7×7
        (R1, 32, 16, "nn"), (R1, 16, 32, "nt"), (32, R1, 16, "tn"),     # ConvT(32,1) 14×14
    ]
    gemms = sg.conv_vae_gemms()
    assert [sg.gemm_key(g) for g in gemms] == expected
    hand = 2 * (25088 * 16 * 32 * 2 + 6272 * 512 * 64 * 3 + 128 * 3136 * 40 * 3
                + 128 * 20 * 3136 * 3 + 6272 * 64 * 512 * 3 + 25088 * 32 * 16 * 3)
    assert sum(map(sg.gemm_flops, gemms)) == hand == 2_739_208_192


@pytest.mark.parametrize("kind", ["MLP VAE", "conv VAE"])
def test_counted_gemms_are_the_ones_a_step_runs(sg, kind):
    sg.check_gemm_count(kind, batch=8)


def test_gemm_count_check_catches_a_wrong_count(sg, monkeypatch):
    """Counting the skipped first-layer dx (as if x needed a gradient) must be caught."""
    def with_first_dx(B=128):
        return sg.linear_gemms(B, 784, 400) + sg.mlp_vae_gemms(B)[2:]
    monkeypatch.setitem(sg.STEP_GEMMS, "MLP VAE", with_first_dx)
    with pytest.raises(AssertionError, match="MLP VAE"):
        sg.check_gemm_count("MLP VAE", batch=8)


def test_unique_shapes_merge_the_conv_and_transposed_conv_twins(sg):
    shapes = sg.unique_shapes({"MLP VAE": sg.mlp_vae_gemms(), "conv VAE": sg.conv_vae_gemms()})
    assert len(shapes) == 11 + 12      # conv VAE: 17 GEMMs, 5 shapes shared by conv and convT
    twin = shapes[(6272, 512, 64, "nt")]
    assert twin["count"] == {"conv VAE": 2}
    assert {(layer, role) for _, layer, role in twin["uses"]} == \
        {("Conv2d(32,64) 14×14", "fwd"), ("ConvT(64,32) 7×7", "dx")}
    assert sum(sum(e["count"].values()) for e in shapes.values()) == 11 + 17


def test_gemm_aggregate_weights_by_flops_and_repeats(vp, sg):
    a, b = sg.Gemm("a", "fwd", 10, 10, 10, "nn"), sg.Gemm("b", "fwd", 20, 10, 10, "nn")
    rows = {sg.gemm_key(a): {"openblas_s": 1.0, "numba_s": 2.0},
            sg.gemm_key(b): {"openblas_s": 3.0, "numba_s": 1.0}}
    agg = vp.gemm_aggregate([a, a, b], rows)          # a runs twice per step
    assert agg["flops"] == 2 * (2 * 1000) + 4000
    assert agg["openblas_s"] == 5.0 and agg["numba_s"] == 5.0
    assert agg["numba_vs_openblas"] == pytest.approx(1.0)
    assert agg["openblas_gflops"] == pytest.approx(8000 / 5.0 / 1e9)


# ----------------------------------------------------------------------- targets
@pytest.mark.parametrize("value, op, threshold, met", [
    (0.6, "<=", 0.6, True), (0.6001, "<=", 0.6, False), (0.2, "<=", 0.6, True),
    (0.9, ">=", 0.9, True), (0.8999, ">=", 0.9, False), (1.3, ">=", 0.9, True),
    (None, "<=", 1.0, None), (float("nan"), ">=", 0.9, None),
])
def test_target_met(vp, value, op, threshold, met):
    assert vp.target_met(value, op, threshold) is met


def _fake_results(gap_mlp=-1.5, gap_conv=0.4, torch=True):
    steps = {"MLP VAE": {"vs_floor": {"numba": 1.2}}, "conv VAE": {"vs_floor": {"numba": 3.0}}}
    elbo = {"MLP VAE": {}, "conv VAE": {}}
    if torch:
        steps["MLP VAE"]["vs_torch"] = {"numba": 0.25}
        steps["conv VAE"]["vs_torch"] = {"numba": 1.05}
        elbo = {"MLP VAE": {"ours_minus_torch": gap_mlp},
                "conv VAE": {"ours_minus_torch": gap_conv}}
    gemm = {"shapes": [{"numba_vs_openblas": 1.2}, {"numba_vs_openblas": 0.5}],
            "aggregate": {"both": {"numba_vs_openblas": 1.1}}}
    return {"steps": steps, "elbo": elbo, "gemm": gemm}


def test_targets_from_results(vp):
    rows = {r["key"]: r for r in vp.evaluate_targets(vp.target_figures(_fake_results()))}
    assert [r[0] for r in vp.TARGETS] == list(rows)
    assert rows["mlp_step_vs_torch"]["met"] is True                     # 0.25 ≤ 0.6
    assert rows["mlp_step_vs_floor"]["met"] is True                     # 1.2 ≤ 1.5
    assert rows["conv_step_vs_torch"]["met"] is False                   # 1.05 > 1.0
    assert rows["mlp_elbo_gap"]["value"] == 1.5 and rows["mlp_elbo_gap"]["met"] is False
    assert rows["conv_elbo_gap"]["met"] is True
    assert rows["gemm_weighted"]["met"] is True and rows["gemm_worst"]["met"] is False


def test_targets_without_torch_are_not_measured(vp):
    rows = {r["key"]: r for r in vp.evaluate_targets(vp.target_figures(_fake_results(torch=False)))}
    for key in ("mlp_step_vs_torch", "conv_step_vs_torch", "mlp_elbo_gap", "conv_elbo_gap"):
        assert rows[key]["value"] is None and rows[key]["met"] is None
    assert rows["mlp_step_vs_floor"]["met"] is True


# -------------------------------------------------------------------------- docs
def test_write_docs_replaces_only_its_block(vp, tmp_path):
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\nintro\n\n<!-- conv_vae.py:begin -->\nconv table\n"
                   "<!-- conv_vae.py:end -->\n\ntail\n")
    vp.write_block("first", vp.BEGIN, vp.END, path=doc, heading=vp.HEADING)
    text = doc.read_text()
    assert text.endswith(f"tail\n\n{vp.HEADING}\n\n{vp.BEGIN}\nfirst\n{vp.END}\n")
    assert "<!-- conv_vae.py:begin -->\nconv table\n<!-- conv_vae.py:end -->" in text
    vp.write_block("second\nline", vp.BEGIN, vp.END, path=doc, heading=vp.HEADING)
    again = doc.read_text()
    assert again == text.replace("\nfirst\n", "\nsecond\nline\n")
    assert again.count(vp.HEADING) == 1 and "first" not in again


# --------------------------------------------------------------- batches, run
def test_train_batches_replay_identically(vp):
    x = np.random.default_rng(0).uniform(0, 1, (300, 784)).astype(np.float32)
    first, second = list(vp.train_batches(x, 2, 20)), list(vp.train_batches(x, 2, 20))
    assert len(first) == 2 * 3                                   # ceil(300 / 128) per epoch
    for (xa, ea), (xb, eb) in zip(first, second):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ea, eb)
    assert set(np.unique(first[0][0])) <= {0.0, 1.0} and first[0][1].shape == (128, 20)
    assert not np.array_equal(first[0][0], first[3][0])         # epoch 2 is a new draw


def test_tiny_run_json_schema_without_torch(vp, monkeypatch):
    calls = []

    def one_call_each(fns, repeats, target_s, pause_s):       # timing stubbed: 1 call, 1 ms
        for name, fn in fns.items():
            fn()
            calls.append(name)
        t = {name: 1e-3 for name in fns}
        return t, t
    monkeypatch.setattr(vp, "time_side_by_side", one_call_each)
    rng = np.random.default_rng(0)
    data = (rng.uniform(0, 1, (200, 784)).astype(np.float32),
            rng.uniform(0, 1, (100, 784)).astype(np.float32), "random")
    settings = vp.Settings(repeats=1, warmup=0, epochs={"MLP VAE": 1, "conv VAE": 1})
    res = vp.run(settings, None, data=data, log=lambda *a, **k: None)
    res = json.loads(json.dumps(res))                          # JSON-able as it stands
    assert set(res) >= {"settings", "batch", "torch", "gemm", "steps", "elbo", "targets", "data"}
    assert res["torch"] is None and set(calls) == {"openblas", "numba", "numpy"}
    assert len(res["gemm"]["shapes"]) == 23 and set(res["gemm"]["aggregate"]) == \
        {"MLP VAE", "conv VAE", "both"}
    for row in res["gemm"]["shapes"]:
        assert row["max_rel_err"] < 1e-4 and row["numba_vs_openblas"] == pytest.approx(1.0)
    for kind, flops, n_gemms in (("MLP VAE", 419_840_000, 11), ("conv VAE", 2_739_208_192, 17)):
        step = res["steps"][kind]
        assert set(step["median_s"]) == {"numba", "numpy"} and "vs_torch" not in step
        assert step["gemm_flops"] == flops
        assert step["floor_s"] == pytest.approx(n_gemms * 1e-3)       # 1 ms per GEMM, stubbed
        assert step["vs_floor"]["numba"] == pytest.approx(1 / n_gemms)
        e = res["elbo"][kind]
        assert e["steps"] == 2 and e["train_images"] == 200 and e["test_images"] == 100
        assert math.isfinite(e["ours_neg_elbo"]) and e["ours_neg_elbo"] > 0
    assert {t["key"]: t["met"] for t in res["targets"]}["mlp_step_vs_torch"] is None
    text = vp.report(res, {"cpu": "cpu", "logical_cpus": 2, "python": "3", "numpy": "2",
                           "numba": "0", "blas": "b"}, "python benchmarks/vs_pytorch.py")
    assert "not measured" in text and "| MLP VAE | 0.420 |" in text
