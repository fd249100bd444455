"""``SGD``: stochastic gradient descent with momentum, dampening, Nesterov momentum and weight decay."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import Tensor
from .optimizer import Optimizer, ParamsT


class SGD(Optimizer):
    """Stochastic gradient descent (optionally with momentum), with torch's update rule:

    g ← ∇θ (negated when ``maximize``) + weight_decay·θ;  with momentum μ:
    b ← g on the first step, else μ·b + (1 − dampening)·g;  g ← g + μ·b (Nesterov) or b;  θ ← θ − lr·g.

    Args:
        params: parameters to optimize, or dicts defining parameter groups.
        lr: learning rate; default 1e-3.
        momentum: momentum factor μ; default 0.
        dampening: dampening for momentum; default 0.
        weight_decay: L2 penalty; default 0.
        nesterov: Nesterov momentum (needs momentum > 0 and zero dampening); default False.
        maximize: maximize the objective instead of minimizing; default False.
        foreach, differentiable, fused: accepted for torch compatibility (one implementation here);
            ``differentiable=True`` is not supported.

    State (per parameter, with momentum): ``momentum_buffer``.

    Example:
        >>> optimizer = npconv.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        >>> optimizer.zero_grad(); loss_fn(model(x), y).backward(); optimizer.step()
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if differentiable:
            raise NotImplementedError("npconv optimizers do not support differentiable=True")
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
            "foreach": foreach,
            "differentiable": differentiable,
            "fused": fused,
        }
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)

    def _update(self, parameter: Tensor, grad: np.ndarray, group: dict[str, Any]) -> None:
        param = parameter._array
        weight_decay, momentum, lr = group["weight_decay"], group["momentum"], group["lr"]
        if weight_decay != 0:
            grad = grad + weight_decay * param
        if momentum != 0:
            state = self.state[parameter]
            buffer = state.get("momentum_buffer")
            if buffer is None:
                buffer = state["momentum_buffer"] = Tensor._wrap(np.array(grad, copy=True))
            else:
                buffer._array *= momentum
                buffer._array += (1 - group["dampening"]) * grad
            grad = grad + momentum * buffer._array if group["nesterov"] else buffer._array
        param += -lr * grad
