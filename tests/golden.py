"""The golden-run loop the model tests share: a fixed model, batch and step count.

A golden run trains on one fixed batch with Adam and returns the loss of every step.
Run twice it must give bit-identical sequences (everything random is seeded), and the
loss must fall — a cheap end-to-end check that forward, backward and optimizer agree.
"""
from scratchvae.optim import Adam


def adam_losses(model, x, steps, lr, *extra):
    """Train ``model`` on the batch ``x`` (and ``extra`` inputs, e.g. labels) for
    ``steps`` Adam steps; return the list of per-step losses (floats, nats)."""
    opt = Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        model.zero_grad()
        losses.append(model.loss_and_grads(x, *extra)["loss"])
        opt.step()
    return losses
