"""One call that answers "how good is my model?": ELBO, IWAE NLL, KL per unit, active units.

Notation: N images, L latent dimensions, K importance samples. All values in nats per
image (means over the N images); "± se" is the standard error of that mean over the
images, sd_n / √N — the spread due to which images were tested, which is what tables
that report "NLL ± se" mean.

    −ELBO   = recon + KL,  recon = −(1/K) Σ_k log p(x|z_k) (the K importance samples),
              KL = KL(q(z|x) || N(0, I)) in closed form; for a model without one (a
              hierarchy, :func:`.interface.kl_in_closed_form`) −ELBO = −(1/K) Σ_k log w_k
              from the same samples, and KL = −ELBO − recon
    NLL_K   = −log (1/K) Σ_k w_k  (:mod:`.iwae`),   NLL_K ≤ −ELBO, gap = −ELBO − NLL_K ≥ 0

The gap estimates how far q(z|x) is from the true posterior (the ELBO's slack is
KL(q(z|x) || p(z|x))).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from ..errors import check_float_array
from .active_units import latent_usage
from .interface import check_vae, kl_in_closed_form, model_name
from .iwae import DEFAULT_MEMORY_MB, importance_sample


@dataclass
class EvaluationReport:
    """What :func:`evaluate_model` measured. Scalars are means over the N images, in nats."""
    model: str
    n: int
    k: int
    nll: float                     # IWAE estimate of −log p(x), K samples
    nll_se: float
    neg_elbo: float                # recon + kl
    neg_elbo_se: float
    recon: float
    kl: float
    kl_per_dim: list               # (L,) mean KL of each unit
    active_units: int
    unit_variances: list           # (L,) Var_n μ_j(x_n)
    threshold: float
    ess_mean: float                # mean effective sample size, in [1, K]
    active_per_level: dict         # {level: [active, size]} for a hierarchy, else {}
    seconds: float
    extra: dict = field(default_factory=dict)    # data set, split, binarization, ...

    @property
    def gap(self) -> float:
        """−ELBO − NLL_K ≥ 0 (on average): the looseness of the ELBO."""
        return self.neg_elbo - self.nll

    def to_dict(self) -> dict:
        return {**asdict(self), "gap": self.gap}


def evaluate_model(model, x, *, k: int = 5000, batch_size: int = 100, sample_chunk=None,
                   rng=None, threshold: float = 0.01, memory_mb: float = DEFAULT_MEMORY_MB,
                   progress: bool = False, extra: dict | None = None,
                   comm=None) -> EvaluationReport:
    """Evaluate a VAE on ``x`` (N, D): −ELBO with its recon/KL split, NLL_K, latent usage.

    Args:
        model: a VAE, ConvVAE or any model with their probabilistic interface
            (:mod:`.interface`); anything else raises NotAVAEError.
        x: (N, D) test images, binarized for published Bernoulli numbers
            (:func:`scratchvae.data.binarize_fixed`).
        k: importance samples per image (5000 as in Burda et al.).
        batch_size, sample_chunk, memory_mb, progress: see :func:`.iwae.importance_sample`.
        rng: ε source (default: seed 0, one stream per image).
        threshold: activity threshold of a latent unit.
        extra: stored as is in the report (e.g. the data set's name).
        comm: MPI ranks to split the importance samples over (:func:`.iwae.importance_sample`;
            the same report, bit for bit, for any number of ranks).
    """
    check_vae(model)
    check_float_array(x, "x", ndim=2)
    iw = importance_sample(model, x, k, batch_size=batch_size, sample_chunk=sample_chunk,
                           rng=rng, memory_mb=memory_mb, progress=progress, comm=comm)
    usage = latent_usage(model, x, threshold)
    neg_elbo_per = iw.recon + usage.kl_per_image if kl_in_closed_form(model) else iw.neg_elbo
    levels, start = {}, 0
    for name, size in getattr(model, "latent_levels", {}).items():      # columns in order
        levels[name] = [int(usage.active[start:start + size].sum()), int(size)]
        start += size
    return EvaluationReport(
        model=model_name(model), n=len(x), k=int(k),
        nll=float(iw.nll.mean()), nll_se=_se(iw.nll),
        neg_elbo=float(neg_elbo_per.mean()), neg_elbo_se=_se(neg_elbo_per),
        recon=float(iw.recon.mean()), kl=float((neg_elbo_per - iw.recon).mean()),
        kl_per_dim=usage.kl.tolist(),
        active_units=usage.count, unit_variances=usage.variances.tolist(),
        threshold=float(threshold), ess_mean=float(iw.ess.mean()), active_per_level=levels,
        seconds=iw.seconds,
        extra=dict(extra or {}))


def _se(a) -> float:
    return float(a.std(ddof=1) / math.sqrt(len(a))) if len(a) > 1 else float("nan")


def format_report(r: EvaluationReport) -> str:
    """A readable table of the report."""
    lines = [f"{r.model} on {r.n} images" + "".join(f", {k} {v}" for k, v in r.extra.items()),
             f"  {'IWAE NLL (K=' + str(r.k) + ')':<24} {r.nll:10.2f} ± {r.nll_se:.2f}  nats",
             f"  {'−ELBO':<24} {r.neg_elbo:10.2f} ± {r.neg_elbo_se:.2f}  nats",
             f"  {'  reconstruction':<24} {r.recon:10.2f}",
             f"  {'  KL(q(z|x) || p(z))':<24} {r.kl:10.2f}",
             f"  {'−ELBO − NLL (gap)':<24} {r.gap:10.2f}",
             f"  {'effective samples':<24} {r.ess_mean:10.1f} of {r.k}",
             f"  {'active units':<24} {r.active_units:7d} of {len(r.kl_per_dim)} "
             f"(Var μ_j > {r.threshold:g})",
             *(f"  {'  level ' + name:<24} {a:7d} of {n}" for name, (a, n) in
               r.active_per_level.items()),
             f"  {'unit':>6} {'KL (nats)':>10} {'Var μ':>10}  active"]
    for j, (kl, v) in enumerate(zip(r.kl_per_dim, r.unit_variances)):
        lines.append(f"  {j:6d} {kl:10.3f} {v:10.4f}  {'yes' if v > r.threshold else 'no'}")
    lines.append(f"  ({r.seconds:.1f} s for the importance samples)")
    return "\n".join(lines)
