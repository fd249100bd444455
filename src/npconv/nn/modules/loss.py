"""Loss modules: thin wrappers holding a loss's options (and class weights as buffers) around the
functions of ``npconv.nn.functional.loss``."""

from __future__ import annotations

from typing import Any

from ...tensor import Tensor
from ..functional import loss as functional_loss
from .module import Module

__all__ = ["BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "L1Loss", "MSELoss", "NLLLoss"]


class _Loss(Module):
    """Base of the losses: resolves the deprecated ``size_average`` / ``reduce`` into ``reduction``."""

    reduction: str

    def __init__(self, size_average: bool | None = None, reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__()
        if size_average is not None or reduce is not None:
            self.reduction = functional_loss.legacy_reduction(size_average, reduce)
        else:
            self.reduction = reduction


class _WeightedLoss(_Loss):
    """A loss with an optional ``weight`` (per class, or broadcast to the target), registered as a buffer
    (saved in the state_dict)."""

    def __init__(
        self,
        weight: Tensor | None = None,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)


class L1Loss(_Loss):
    """Mean (or sum) absolute error |x − y| between each element of the input and the target.

    Args:
        size_average, reduce: deprecated, use ``reduction``; default None.
        reduction: 'none' | 'mean' | 'sum'; default 'mean'.

    Shape:
        Input: (*), any number of dimensions.  Target: (*), same shape.
        Output: scalar; (*) for reduction='none'.
    """

    def __init__(self, size_average: bool | None = None, reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return functional_loss.l1_loss(input, target, reduction=self.reduction)


class MSELoss(_Loss):
    """Mean (or sum) squared error (x − y)² between each element of the input and the target.

    Args:
        size_average, reduce: deprecated, use ``reduction``; default None.
        reduction: 'none' | 'mean' | 'sum'; default 'mean'.

    Shape:
        Input: (*), any number of dimensions.  Target: (*), same shape.
        Output: scalar; (*) for reduction='none'.

    Example:
        >>> loss = nn.MSELoss()(npconv.randn(3, 5, requires_grad=True), npconv.randn(3, 5))
        >>> loss.backward()
    """

    def __init__(self, size_average: bool | None = None, reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return functional_loss.mse_loss(input, target, reduction=self.reduction)


class NLLLoss(_WeightedLoss):
    """Negative log likelihood loss of log-probabilities and class-index targets.

    Args:
        weight: a rescaling weight per class, shape (C); default None.
        size_average, reduce: deprecated, use ``reduction``; default None.
        ignore_index: a target value that contributes nothing to the loss or the mean; default -100.
        reduction: 'none' | 'mean' | 'sum'; 'mean' divides by the sum of the targets' weights. Default 'mean'.

    Shape:
        Input: (C), (N, C) or (N, C, d1, ..., dK).  Target: (), (N) or (N, d1, ..., dK), int64 in [0, C).
        Output: scalar; the target's shape for reduction='none'.
    """

    def __init__(
        self,
        weight: Tensor | None = None,
        size_average: bool | None = None,
        ignore_index: int = -100,
        reduce: bool | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return functional_loss.nll_loss(
            input, target, weight=self.weight, ignore_index=self.ignore_index, reduction=self.reduction
        )


class CrossEntropyLoss(_WeightedLoss):
    """Cross entropy between softmax(input) and the target: ``nll_loss(log_softmax(input, 1), target)``.

    Args:
        weight: a rescaling weight per class, shape (C); default None.
        size_average, reduce: deprecated, use ``reduction``; default None.
        ignore_index: a class-index target that contributes nothing; default -100.
        reduction: 'none' | 'mean' | 'sum'; default 'mean'.
        label_smoothing: ε in [0, 1]: the target becomes (1 − ε)·target + ε / C; default 0.0.

    Shape:
        Input: (C), (N, C) or (N, C, d1, ..., dK), unnormalised logits.
        Target: class indices (), (N) or (N, d1, ..., dK) in [0, C), or class probabilities of the input's
        shape.  Output: scalar; (N, d1, ..., dK) for reduction='none'.

    Example:
        >>> criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
        >>> criterion(npconv.randn(4, 10, requires_grad=True), npconv.tensor([1, 0, 9, 3])).backward()
    """

    def __init__(
        self,
        weight: Tensor | None = None,
        size_average: bool | None = None,
        ignore_index: int = -100,
        reduce: bool | None = None,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return functional_loss.cross_entropy(
            input,
            target,
            weight=self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            label_smoothing=self.label_smoothing,
        )


class BCELoss(_WeightedLoss):
    """Binary cross entropy −w·(y·log x + (1 − y)·log(1 − x)) of probabilities; each log clamped at −100.

    Args:
        weight: a rescaling weight broadcastable to the target; default None.
        size_average, reduce: deprecated, use ``reduction``; default None.
        reduction: 'none' | 'mean' | 'sum'; default 'mean'.

    Shape:
        Input: (*), probabilities in [0, 1].  Target: (*), same shape.  Output: scalar; (*) for 'none'.
    """

    def __init__(
        self,
        weight: Tensor | None = None,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(weight, size_average, reduce, reduction)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return functional_loss.binary_cross_entropy(input, target, weight=self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_WeightedLoss):
    """A sigmoid and binary cross entropy in one numerically stable step (log-sum-exp form).

    Args:
        weight: a rescaling weight broadcastable to the input; default None.
        size_average, reduce: deprecated, use ``reduction``; default None.
        reduction: 'none' | 'mean' | 'sum'; default 'mean'.
        pos_weight: the weight of positive examples, broadcast along the last (class) dimension;
            default None.

    Shape:
        Input: (*), logits.  Target: (*), same shape.  Output: scalar; (*) for reduction='none'.
    """

    def __init__(
        self,
        weight: Tensor | None = None,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
        pos_weight: Tensor | None = None,
    ) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return functional_loss.binary_cross_entropy_with_logits(
            input, target, self.weight, pos_weight=self.pos_weight, reduction=self.reduction
        )
