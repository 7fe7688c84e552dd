"""scratchvae.allocator: glibc's malloc thresholds raised once, with the opt-outs."""
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROBE = """
import resource, numpy as np
from scratchvae.allocator import keep_freed_memory
state = keep_freed_memory()
assert keep_freed_memory() is state                       # once per process
def churn():
    for _ in range(5):            # what a step does: hold many big temporaries, free them all
        held = [np.ones((1536, 1024), np.float32) for _ in range(10)]     # 10 x 6 MiB
        del held
churn()
f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
churn()
print(state["applied"], state["reason"], resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
"""


def _run(env_extra):
    env = {k: v for k, v in __import__("os").environ.items()
           if not k.startswith(("MALLOC_", "SCRATCHVAE_KEEP"))}
    env.update(env_extra)
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    applied, reason, faults = out.stdout.split()[0], " ".join(out.stdout.split()[1:-1]), \
        int(out.stdout.split()[-1])
    return applied == "True", reason, faults


def test_freed_memory_is_reused_without_page_faults():
    applied, reason, faults = _run({})
    if not applied:                                       # not glibc: nothing to tune
        assert reason.startswith("not glibc")
        return
    assert faults < 100          # 5 × 60 MiB of temporaries, reused from the heap


def test_the_opt_out_and_the_users_own_settings_win():
    applied, reason, faults = _run({"SCRATCHVAE_KEEP_FREED_MEMORY": "0"})
    assert (applied, reason) == (False, "SCRATCHVAE_KEEP_FREED_MEMORY=0")
    if _run({})[0]:              # glibc: its default gives the 60 MiB back every time
        assert faults > 10_000   # (5 × 15,360 pages zero-filled again)
    assert _run({"MALLOC_TRIM_THRESHOLD_": "1000000"})[:2] == \
        (False, "the user's MALLOC_* settings")
