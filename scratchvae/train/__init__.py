"""Training: the one Trainer loop, greedy pretraining, atomic checkpoints, history files."""
from ..atomic import atomic_write, atomic_write_text
from .checkpoint import load_checkpoint, load_model, save_checkpoint
from .history import save_history
from .pretrain import greedy_pretrain
from .trainer import TrainConfig, Trainer

__all__ = ["Trainer", "TrainConfig", "greedy_pretrain", "save_checkpoint", "load_checkpoint",
           "load_model", "save_history", "atomic_write", "atomic_write_text"]
