"""``gradcheck``: every registered finite-difference check, as a table."""
from __future__ import annotations

from ..errors import ScratchVAEError
from .common import nonnegative_int, positive_float


def add_parser(sub) -> None:
    g = sub.add_parser("gradcheck", help="check every layer's and loss's backward numerically",
                       description="Finite-difference check (float64, central differences, random "
                       "upstream gradient) of every registered layer, loss and model; prints a "
                       "table and exits non-zero on any failure.")
    g.add_argument("--seed", type=nonnegative_int, default=0)
    g.add_argument("--mode", default="full", choices=["full", "sampled", "directional"])
    g.add_argument("--eps", type=positive_float, default=1e-6)
    g.add_argument("--only", nargs="+", default=None, metavar="NAME",
                   help="run only these checks: a full name runs that entry; a family (the "
                        "name before '(', e.g. HVAE) runs each of its entries")
    g.set_defaults(func=run)


def run(args) -> int:
    from ..gradcheck import CHECKS, run_all  # noqa: PLC0415

    names = []
    for w in args.only or list(CHECKS):      # an exact name, else every entry of the family
        names += [w] if w in CHECKS else [n for n in CHECKS if n.split("(")[0] == w]
    unknown = [w for w in args.only or () if w not in names
               and not any(n.split("(")[0] == w for n in names)]
    if unknown:
        raise ScratchVAEError(f"unknown check(s) {unknown}; known: {list(CHECKS)}")
    names = list(dict.fromkeys(names))       # each once, in the order asked
    reports = run_all(seed=args.seed, names=names, mode=args.mode, eps=args.eps)
    print(f"{'op':<28} {'array':<14} {'shape':<10} {'max rel err':>12}  result")
    for rep in reports:
        for i, r in enumerate(rep.results):
            print(f"{rep.op if i == 0 else '':<28} {r.name:<14} {str(r.shape):<10} "
                  f"{r.max_rel_error:>12.2e}  {'pass' if r.passed else 'FAIL'}")
    failed = [r for r in reports if not r.passed]
    for rep in failed:
        print("\n" + str(rep))
    n_arrays = sum(len(r.results) for r in reports)
    print(f"\n{len(reports) - len(failed)} passed, {len(failed)} failed "
          f"({n_arrays} arrays, float64, eps={args.eps:g}, rtol=1e-6, mode={args.mode}, "
          f"random upstream gradient, seed={args.seed})")
    return 1 if failed else 0
