"""Every golden run (tests/golden.py) reproduces its stored numbers to the last bit."""
import json

import pytest

from golden import CPU_PATHS, GOLDEN_FILE, RUNS, machine, run

STORED = json.loads(GOLDEN_FILE.read_text())


def test_every_run_is_stored():
    for path in CPU_PATHS:
        assert sorted(STORED["runs"][path]) == sorted(RUNS)


@pytest.mark.parametrize("cpu_path", CPU_PATHS)
@pytest.mark.parametrize("name", sorted(RUNS))
def test_golden_run_is_bit_identical(name, cpu_path):
    if STORED["machine"] != machine():
        pytest.skip("the golden numbers were recorded on another CPU or library version "
                    f"({STORED['machine']['numpy']=}, {STORED['machine']['numba']=}); "
                    "run `python tests/golden.py` here to record them for this machine")
    expected = STORED["runs"][cpu_path][name]
    got = run(name, cpu_path)
    assert got.keys() == expected.keys()
    for key in expected:
        assert got[key] == expected[key], (
            f"{name}[{key}] on the {cpu_path} path changed: first difference at step "
            f"{next(i for i, (a, b) in enumerate(zip(got[key], expected[key])) if a != b)}: "
            f"{[float.fromhex(v) for v in got[key]]} vs stored "
            f"{[float.fromhex(v) for v in expected[key]]}")
