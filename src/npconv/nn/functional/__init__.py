"""``npconv.nn.functional``: torch's functional API (conv, padding, activations, pooling, losses, ...).

Each file lists its public functions in ``__all__``."""

from .activation import *  # noqa: F403
from .conv import (
    conv1d,
    conv2d,
    conv3d,
    conv_nd,
    conv_nd_with_padding_mode,
    conv_transpose1d,
    conv_transpose2d,
    conv_transpose3d,
    conv_transpose_nd,
)
from .dropout import *  # noqa: F403
from .linear import *  # noqa: F403
from .loss import *  # noqa: F403
from .normalization import *  # noqa: F403
from .padding import pad
from .pooling import *  # noqa: F403
from .vision import *  # noqa: F403
