"""Finite-difference gradient checks: the checker (``core``), adapters for layers and
models (``adapters``), and the registry of every op in the library (``registry``, filled
by the ``suite_*`` family modules that ``suite`` imports; see
``python -m scratchvae gradcheck``)."""
from .adapters import check_model, check_module
from .core import MODES, ArrayResult, GradcheckError, GradcheckReport, check_function
from .suite import CHECKS, run_all

__all__ = ["check_function", "check_module", "check_model", "GradcheckReport", "ArrayResult",
           "GradcheckError", "MODES", "CHECKS", "run_all"]
