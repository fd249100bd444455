"""``RMSprop``: gradients divided by a running root mean square, optionally centered and with momentum."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import Tensor
from .optimizer import Optimizer, ParamsT, check_non_negative, lerp_


class RMSprop(Optimizer):
    """RMSprop, with torch's update rule:

    g ← ∇θ (negated when ``maximize``) + weight_decay·θ;  v ← α·v + (1 − α)·g²;
    centered: ḡ ← lerp(ḡ, g, 1 − α), a ← √(v − ḡ²), else a ← √v;  a ← a + eps;
    with momentum μ: b ← μ·b + g / a, θ ← θ − lr·b;  else θ ← θ − lr·g / a.

    Args:
        params: parameters to optimize, or dicts defining parameter groups.
        lr: learning rate; default 1e-2.
        alpha: smoothing constant α; default 0.99.
        eps: added to the denominator; default 1e-8.
        weight_decay: L2 penalty; default 0.
        momentum: momentum factor μ; default 0.
        centered: normalise by the estimated variance of the gradient; default False.
        capturable, foreach, maximize, differentiable: as in torch (``differentiable=True`` unsupported).

    State (per parameter): ``step``, ``square_avg``, ``momentum_buffer`` (momentum > 0) and
    ``grad_avg`` (centered).
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        check_non_negative(lr=lr, eps=eps, momentum=momentum, weight_decay=weight_decay, alpha=alpha)
        if differentiable:
            raise NotImplementedError("npconv optimizers do not support differentiable=True")
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "alpha": alpha,
            "eps": eps,
            "centered": centered,
            "weight_decay": weight_decay,
            "capturable": capturable,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)

    def _update(self, parameter: Tensor, grad: np.ndarray, group: dict[str, Any]) -> None:
        param = parameter._array
        state = self.state[parameter]
        if not state:
            state["step"] = Tensor._wrap(np.zeros((), dtype=np.float32))
            state["square_avg"] = Tensor._wrap(np.zeros_like(param))
            if group["momentum"] > 0:
                state["momentum_buffer"] = Tensor._wrap(np.zeros_like(param))
            if group["centered"]:
                state["grad_avg"] = Tensor._wrap(np.zeros_like(param))
        lr, alpha, weight_decay, momentum = group["lr"], group["alpha"], group["weight_decay"], group["momentum"]
        square_avg = state["square_avg"]._array
        state["step"]._array += 1
        if weight_decay != 0:
            grad = grad + weight_decay * param
        square_avg *= alpha
        square_avg += (1 - alpha) * grad * grad
        if group["centered"]:
            grad_avg = state["grad_avg"]._array
            lerp_(grad_avg, grad, 1 - alpha)
            average = np.sqrt(square_avg + -1 * grad_avg * grad_avg)
        else:
            average = np.sqrt(square_avg)
        average += group["eps"]
        if momentum > 0:
            buffer = state["momentum_buffer"]._array
            buffer *= momentum
            buffer += grad / average
            param += -lr * buffer
        else:
            param += -lr * grad / average
