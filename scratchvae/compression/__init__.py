"""Compression with learned models: an exact arithmetic coder, the frequency tables it codes
under, a lossy codec for any code vector (a VAE's latent, PCA's coefficients) quantized on a
grid and coded under a Gaussian prior, JPEG as a baseline, and rate–distortion fronts."""
from .arithmetic import FrequencyTable, decode, encode
from .jpeg import jpeg_decode, jpeg_encode, jpeg_layout
from .latent_codec import GridCodec, LatentCodec, pca_codec, prior_bins
from .rate_distortion import pareto_front, quality_at_rate

__all__ = ["FrequencyTable", "encode", "decode", "GridCodec", "LatentCodec", "pca_codec",
           "prior_bins", "jpeg_encode", "jpeg_decode", "jpeg_layout", "pareto_front",
           "quality_at_rate"]
