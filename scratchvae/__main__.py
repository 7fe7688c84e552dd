"""``python -m scratchvae`` — see :mod:`scratchvae.cli`."""
import sys

from .cli import main

sys.exit(main())
