"""Operator formulas, one family per module; importing this package registers them all.

Must not import torch.
"""

from cnncost.ops import (  # noqa: F401  (imported for their registrations)
    activation,
    conv,
    elementwise,
    io,
    linear,
    norm,
    pool,
    preprocess,
    resample,
    shape,
    transposed,
    views,
)
