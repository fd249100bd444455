"""``Parameter``: a Tensor that a Module registers as learnable; it requires grad by default."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import Tensor


class Parameter(Tensor):
    """A learnable tensor. ``Parameter(t)`` shares ``t``'s memory, as in torch."""

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        if data is None:
            array = np.empty(0, dtype=np.float32)
        elif isinstance(data, Tensor):
            array = data._array
        else:
            array = np.asarray(data)
        self._start(array, requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __reduce_ex__(self, protocol: Any) -> Any:
        return (Parameter, (Tensor._wrap(self._array), self.requires_grad))


class Buffer(Tensor):
    """Marks a tensor to be registered as a module buffer on attribute assignment (``nn.Buffer``)."""

    def __init__(self, data: Any, persistent: bool = True) -> None:
        self._start(data._array if isinstance(data, Tensor) else np.asarray(data))
        self.persistent = persistent


class UninitializedParameter(Parameter):
    """The placeholder weight of a lazy layer until its first call fixes the shape."""

    def __init__(self, requires_grad: bool = True, dtype: Any = None) -> None:
        super().__init__(np.empty(0, dtype=dtype or np.float32), requires_grad)

    def materialize(self, shape: tuple[int, ...]) -> Parameter:
        """A real Parameter of ``shape`` (values uninitialised) with this placeholder's dtype."""
        return Parameter(np.empty(shape, dtype=self._array.dtype), self.requires_grad)

    def __repr__(self) -> str:
        return "<UninitializedParameter>"
