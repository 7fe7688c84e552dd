"""Every registered gradient check passes at rtol = 1e-6, and every layer is registered.

The registry (``scratchvae.gradcheck.CHECKS``) is the single list of checked ops, and
this file is where the test suite runs it: each entry once, at seed 0 in full mode
(what ``python -m scratchvae gradcheck`` runs by default). It also checks that every
entry forwards the CLI's options to the checker, and fails when a layer exported by
``scratchvae.nn`` has no entry (so a new layer cannot ship unchecked).
"""
import inspect
import sys

import pytest

from scratchvae import nn
from scratchvae.gradcheck import CHECKS, core

RTOL = 1e-6      # the project tolerance; never raise it to make something pass
BASES = {"Module", "Sequential"}


SEEDS = (0, 1, 2)
#: what a family's check must compare besides passing: the data where it is a variable of
#: the loss (CVAE: x enters twice), a multiplier checked like a weight (α), every layer
MUST_CHECK = {
    "CVAE": {"x", "encoder.0.W", "decoder.0.W"},
    "LagrangianVAE": {"alpha"},
    "IWAE": {"encoder.0.W", "decoder.0.W"},
    "ConvIWAE": {"encoder.1.W", "decoder.0.W"},
    "ConvHVAE": {"encoder_z2.1.V", "encoder_z1.branch_a.2.W", "decoder.net.2.V",
                 "decoder.net.3.W"},
    "HVAE": {"encoder_z2.0.W", "encoder_z1.branch_b.0.W", "prior_z1.0.W",
             "decoder.branch_b.0.W"},
    "VampPriorVAE": {"pseudo_inputs", "encoder.0.W", "decoder.0.W"},
    "DenoisingAE": {"encoder.0.W", "encoder.0.b", "encoder.2.W", "encoder.2.b",
                    "decoder.0.W", "decoder.0.b", "decoder.2.W", "decoder.2.b"},
}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", list(CHECKS), ids=list(CHECKS))
def test_registered_check_passes(name, seed):
    """Every registered check, once per seed — the only place the registry runs."""
    report = CHECKS[name](seed=seed)
    assert report.results, f"{name}: the check compared nothing"
    assert report.op == name and report.mode == "full"
    assert report.rtol <= RTOL and report.eps == pytest.approx(1e-6) and report.atol == 0
    assert report.passed, str(report)
    assert report.max_rel_error <= RTOL, str(report)
    family = name.split("(")[0]
    missing = MUST_CHECK.get(family, set()) - {r.name for r in report.results}
    assert not missing, f"{name} does not check {sorted(missing)}"


class _Stop(Exception):
    """Raised by the stand-in checker: the entry got as far as calling it."""


@pytest.mark.parametrize("name", list(CHECKS), ids=list(CHECKS))
def test_registered_check_forwards_the_cli_options(name, monkeypatch):
    """``python -m scratchvae gradcheck`` passes seed, eps and mode to every entry; an entry
    that used one of those names for something else (say ε of the reparameterization),
    or dropped one, would break it. A stand-in for ``check_function`` records what the
    entry passes and stops it there, so no gradient is computed here."""
    real, seen = core.check_function, []

    def stand_in(forward, backward, inputs, **kwargs):
        seen.append(kwargs)
        raise _Stop

    for module in list(sys.modules.values()):
        if (getattr(module, "__name__", "").startswith("scratchvae.gradcheck")
                and getattr(module, "check_function", None) is real):
            monkeypatch.setattr(module, "check_function", stand_in)
    with pytest.raises(_Stop):
        CHECKS[name](seed=3, eps=2.5e-6, mode="directional")
    (options,) = seen
    assert options.get("seed") == 3 and options.get("eps") == 2.5e-6, options
    assert options.get("mode") == "directional" and options.get("op") == name, options


def exported_layer_classes():
    """Names of the Module subclasses that scratchvae.nn exports, bases excluded."""
    out = []
    for name in nn.__all__:
        obj = getattr(nn, name)
        if inspect.isclass(obj) and issubclass(obj, nn.Module) and name not in BASES:
            out.append(name)
    return out


def unregistered(class_names, registry_names):
    """Class names with no registry entry named ``Class`` or ``Class(...)``."""
    def covered(cls):
        return any(r == cls or r.startswith(cls + "(") for r in registry_names)
    return [c for c in class_names if not covered(c)]


def test_every_exported_layer_has_a_registered_check():
    classes = exported_layer_classes()
    assert len(classes) >= 8            # Linear and the activations, at least
    missing = unregistered(classes, list(CHECKS))
    assert not missing, (f"layers without a gradient check (register one in a "
                         f"scratchvae/gradcheck/suite_*.py module): {missing}")


def test_coverage_check_can_fail():
    names = list(CHECKS)
    assert unregistered(["Linear", "ReLU"], names) == []
    assert unregistered(["Conv3d"], names) == ["Conv3d"]
    # "ReLU" must not count as covering "LeakyReLU" and vice versa
    assert unregistered(["LeakyReLU"], ["ReLU"]) == ["LeakyReLU"]
    assert unregistered(["ReLU"], ["LeakyReLU"]) == ["ReLU"]
    assert unregistered(["Linear"], ["Linear(bias=False)"]) == []


def test_a_registered_check_fails_on_a_planted_bug(monkeypatch):
    # tanh backward with (1 + y^2) instead of (1 - y^2): the Tanh entry must catch it
    monkeypatch.setattr(nn.Tanh, "_bwd", staticmethod(lambda dy, y: dy * (1 + y * y)))
    report = CHECKS["Tanh"](seed=0)
    assert not report.passed
    assert report.max_rel_error > RTOL


def test_model_check_fails_on_a_planted_bug(monkeypatch):
    # a wrong reparameterization backward inside the model (dlogvar twice too big)
    # must make the whole-model entry fail; it is replaced in every model module that
    # uses it, wherever the models keep their shared pass
    import scratchvae.models  # noqa: F401 - loads every model module
    from scratchvae.distributions import reparameterize_backward

    def bad_backward(dz, cache):
        dmu, dlogvar = reparameterize_backward(dz, cache)
        return dmu, 2 * dlogvar

    users = [m for name, m in list(sys.modules.items()) if name.startswith("scratchvae.models")
             and getattr(m, "reparameterize_backward", None) is reparameterize_backward]
    assert users, "no model module calls reparameterize_backward"
    for module in users:
        monkeypatch.setattr(module, "reparameterize_backward", bad_backward)
    report = CHECKS["VAE(bernoulli)"](seed=0)
    assert not report.passed, str(report)
