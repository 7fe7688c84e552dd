"""scratchvae — autoencoders and variational autoencoders written from scratch.

Every forward and backward pass is hand-written in NumPy (CuPy on a GPU) and
proven by finite-difference gradient checks. Start with the README, then:

    scratchvae.nn             layers (Linear, activations, Sequential)
    scratchvae.functional     the forward/backward pairs the layers call
    scratchvae.distributions  likelihoods, KL divergences, reparameterization
    scratchvae.optim          Adam, SGD, clipping, schedules
    scratchvae.gradcheck      finite-difference checks for any op or model
    scratchvae.models         AE, VAE
    scratchvae.data           IDX reader, named data sets, embedded sprites, batching
    scratchvae.train          Trainer, checkpoints, history
"""
__version__ = "0.1.0"
