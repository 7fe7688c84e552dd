"""scratchvae — autoencoders and variational autoencoders written from scratch.

Every forward and backward pass is hand-written in NumPy (CuPy on a GPU) and
proven by finite-difference gradient checks. Start with docs/reading_path.md (one VAE
step, file by file) and docs/ARCHITECTURE.md (the layers and contracts); the packages:

    scratchvae.functional     the ops: forward/backward pairs with no state
    scratchvae.distributions  the losses and samplers: likelihoods, KLs, reparameterization
    scratchvae.nn             the layers that own parameters (Linear, conv, Sequential, ...)
    scratchvae.optim          Adam, SGD, one optimizer per parameter group, clipping
    scratchvae.models         the twelve models of MODELS: AE, denoising, sparse and stacked
                              AEs; VAE/β-VAE, conv VAE, CVAE, Lagrangian VAE, GECO, IWAE,
                              conv IWAE, VAE-GAN — on two cores (vae_base, autoencoder);
                              and TASK_MODELS: item-based AutoRec, the U-Net colorizer
    scratchvae.train          the one Trainer, greedy pretraining, checkpoints, history
    scratchvae.data           IDX reader, named data sets, built-in sprites, batching
    scratchvae.evaluation     −log p(x) by importance sampling, the ELBO split, active units
    scratchvae.analysis       PCA, ROC, the softmax probe, anomaly scores, latent tools
    scratchvae.gradcheck      finite-difference checks for any op or model
    scratchvae.backend        the device gateway: NumPy/CuPy, and which kernel runs each op
"""
__version__ = "0.1.0"
