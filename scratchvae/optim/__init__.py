"""Optimizers (Adam/AdamW, SGD with momentum), gradient clipping, LR schedules."""
from . import schedules
from .adam import Adam
from .clip import clip_grad_norm, global_grad_norm
from .groups import OptimizerGroups
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["Optimizer", "OptimizerGroups", "Adam", "SGD", "clip_grad_norm", "global_grad_norm", "schedules"]
