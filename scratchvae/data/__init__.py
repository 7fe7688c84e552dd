"""Data: IDX files, named data sets, the built-in sprites and cosine sets, and batching.

    from scratchvae.data import load_dataset, BatchIterator
    train = load_dataset("sprites", "train")          # no files needed
    for idx in BatchIterator(train, 128).epoch(0):
        xb = train.x[idx]                              # (B, 1, 28, 28) float32
"""
from scratchvae.data.loader import ArrayDataset, BatchIterator, binarize, binarize_fixed
from scratchvae.data.idx import read_idx, write_idx, parse_idx
from scratchvae.data.sprites import (FACTOR_NAMES, FACTOR_SIZES, SHAPES, all_sprites,
                                     factor_values, make_sprites, render_sprites)
from scratchvae.data.cosine import cosine3d_clean, make_cosine3d, surface_metrics
from scratchvae.data.corruption import (CORRUPTIONS, corrupt, corrupt_gaussian, corrupt_masking,
                                        corrupt_watermark, gaussian_noise, masking_mask,
                                        watermark_marks)
from scratchvae.data.datasets import dataset_names, find_dataset_dir, load_dataset, search_dirs
from scratchvae.data.cifar10 import load_cifar10

__all__ = [
    "ArrayDataset", "BatchIterator", "binarize", "binarize_fixed",
    "read_idx", "write_idx", "parse_idx",
    "make_sprites", "render_sprites", "all_sprites", "factor_values",
    "SHAPES", "FACTOR_NAMES", "FACTOR_SIZES",
    "make_cosine3d", "cosine3d_clean", "surface_metrics",
    "CORRUPTIONS", "corrupt", "corrupt_gaussian", "corrupt_masking", "corrupt_watermark",
    "gaussian_noise", "masking_mask", "watermark_marks",
    "load_dataset", "dataset_names", "find_dataset_dir", "search_dirs", "load_cifar10",
]
