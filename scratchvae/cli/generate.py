"""``sample`` and ``reconstruct``: images from a trained model's checkpoint."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import plots
from ..errors import ScratchVAEError
from .common import batch_of, image_shape, load_split, nonnegative_int, positive_int


def add_parsers(sub) -> None:
    s = sub.add_parser("sample", help="draw samples from a trained VAE")
    s.add_argument("checkpoint")
    s.add_argument("--n", type=positive_int, default=64)
    s.add_argument("--seed", type=nonnegative_int, default=0)
    s.add_argument("--out", default=None,
                   help="PNG path (default: samples.png beside the checkpoint)")
    s.set_defaults(func=sample)

    r = sub.add_parser("reconstruct", help="reconstruct test images with a trained model")
    r.add_argument("checkpoint")
    r.add_argument("--data", default=None, help="data set (default: the one it was trained on)")
    r.add_argument("--n", type=positive_int, default=8)
    r.add_argument("--out", default=None)
    r.set_defaults(func=reconstruct)


def sample(args) -> int:
    from ..backend import to_numpy  # noqa: PLC0415
    from ..train import atomic_write, load_model  # noqa: PLC0415

    model, meta = load_model(args.checkpoint)
    if not hasattr(model, "sample"):
        raise ScratchVAEError(f"a {meta['model_config']['model']!r} model cannot sample; "
                              "train a VAE (--model vae)")
    shape = image_shape(meta["train_config"]["extra"].get("image_shape", ()))
    out = Path(args.out or Path(args.checkpoint).with_name("samples.png"))
    labels = ({"labels": np.arange(args.n) % model.n_classes}
              if tuple(model.inputs) != ("x",) else {})
    x = to_numpy(model.sample(args.n, rng=args.seed, **labels))
    if shape is None:
        atomic_write(out.with_suffix(".npy"), lambda f: np.save(f, x))
        print(f"wrote {out.with_suffix('.npy')} ({x.shape})")
    else:
        plots.save_image_grid(x, out, shape, nrow=int(np.ceil(np.sqrt(args.n))))
        print(f"wrote {out} ({args.n} samples)")
    return 0


def reconstruct(args) -> int:
    from ..backend import to_numpy  # noqa: PLC0415
    from ..train import load_model  # noqa: PLC0415

    model, meta = load_model(args.checkpoint)
    extra = meta["train_config"]["extra"]
    x, y, shape = load_split(args.data or extra["data"], "test", None)
    shape = image_shape(shape)
    if shape is None:
        raise ScratchVAEError("reconstruct draws images; this checkpoint's data are not images")
    out = Path(args.out or Path(args.checkpoint).with_name("reconstructions.png"))
    batch = batch_of(model, x[:args.n], None if y is None else y[:args.n])
    plots.save_reconstructions(x[:args.n], to_numpy(model.reconstruct(*batch)), out, shape,
                               n=args.n)
    print(f"wrote {out}")
    return 0
