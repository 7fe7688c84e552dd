"""Compression with learned models: an exact arithmetic coder, the frequency tables it codes
under, and a lossy image codec from a trained VAE (quantized latents coded under the prior)."""
from .arithmetic import FrequencyTable, decode, encode
from .latent_codec import LatentCodec, prior_bins

__all__ = ["FrequencyTable", "encode", "decode", "LatentCodec", "prior_bins"]
