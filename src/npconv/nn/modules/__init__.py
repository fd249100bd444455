"""All layers of ``npconv.nn``; each file lists its public classes in ``__all__``."""

from .activation import *  # noqa: F403
from .container import ModuleDict, ModuleList, Sequential
from .conv import *  # noqa: F403
from .dropout import *  # noqa: F403
from .flatten import *  # noqa: F403
from .linear import *  # noqa: F403
from .loss import *  # noqa: F403
from .module import Module
from .normalization import *  # noqa: F403
from .pooling import *  # noqa: F403
from .upsampling import *  # noqa: F403
