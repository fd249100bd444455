"""``Adam`` and ``AdamW``: adaptive moment estimation, with L2 or decoupled weight decay."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import Tensor
from .optimizer import Optimizer, ParamsT, check_non_negative, lerp_


class Adam(Optimizer):
    """Adam, with torch's update rule (step t counted per parameter):

    g ← ∇θ (negated when ``maximize``) [+ weight_decay·θ, or θ ← θ·(1 − lr·weight_decay) if decoupled];
    m ← lerp(m, g, 1 − β1);  v ← β2·v + (1 − β2)·g²;  (amsgrad: v_max ← max(v_max, v), used for v)
    θ ← θ − lr / (1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + eps).

    Args:
        params: parameters to optimize, or dicts defining parameter groups.
        lr: learning rate; default 1e-3.
        betas: (β1, β2), the decay rates of the moment estimates; default (0.9, 0.999).
        eps: added to the denominator; default 1e-8.
        weight_decay: L2 penalty; default 0.
        amsgrad: use the maximum of past second moments (AMSGrad); default False.
        maximize: maximize the objective; default False.
        decoupled_weight_decay: decay the weights directly (AdamW) instead of through the gradient;
            default False.
        foreach, capturable, differentiable, fused: accepted for torch compatibility (one implementation
            here); ``differentiable=True`` is not supported.

    State (per parameter): ``step`` (a float32 scalar tensor), ``exp_avg``, ``exp_avg_sq`` and, with
    amsgrad, ``max_exp_avg_sq``.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        decoupled_weight_decay: bool = False,
    ) -> None:
        check_non_negative(lr=lr, eps=eps)
        for index in (0, 1):
            if not 0.0 <= betas[index] < 1.0:
                raise ValueError(f"Invalid beta parameter at index {index}: {betas[index]}")
        check_non_negative(weight_decay=weight_decay)
        if not (isinstance(betas[0], float) and isinstance(betas[1], float)):
            raise ValueError("betas must be either both floats or both Tensors")
        if differentiable:
            raise NotImplementedError("npconv optimizers do not support differentiable=True")
        if fused and foreach:
            raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
        defaults = {
            "lr": lr,
            "betas": tuple(betas),
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "differentiable": differentiable,
            "fused": fused,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults)

    def _update(self, parameter: Tensor, grad: np.ndarray, group: dict[str, Any]) -> None:
        param = parameter._array
        state = self.state[parameter]
        if not state:
            state["step"] = Tensor._wrap(np.zeros((), dtype=np.float32))
            state["exp_avg"] = Tensor._wrap(np.zeros_like(param))
            state["exp_avg_sq"] = Tensor._wrap(np.zeros_like(param))
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = Tensor._wrap(np.zeros_like(param))
        lr, weight_decay, eps = group["lr"], group["weight_decay"], group["eps"]
        beta1, beta2 = group["betas"]
        exp_avg, exp_avg_sq = state["exp_avg"]._array, state["exp_avg_sq"]._array
        state["step"]._array += 1
        if weight_decay != 0:
            if group["decoupled_weight_decay"]:
                param *= 1 - lr * weight_decay
            else:
                grad = grad + weight_decay * param
        lerp_(exp_avg, grad, 1 - beta1)
        exp_avg_sq *= beta2
        exp_avg_sq += (1 - beta2) * grad * grad
        step = float(state["step"]._array)
        step_size = lr / (1 - beta1**step)
        bias_correction2_sqrt = (1 - beta2**step) ** 0.5
        second_moment = exp_avg_sq
        if group["amsgrad"]:
            second_moment = state["max_exp_avg_sq"]._array
            np.maximum(second_moment, exp_avg_sq, out=second_moment)
        denominator = np.sqrt(second_moment) / bias_correction2_sqrt + eps
        param += -step_size * exp_avg / denominator



class AdamW(Adam):
    """AdamW: Adam with decoupled weight decay θ ← θ·(1 − lr·weight_decay) before the Adam step.

    Args:
        params: parameters to optimize, or dicts defining parameter groups.
        lr: learning rate; default 1e-3.
        betas: (β1, β2); default (0.9, 0.999).
        eps: added to the denominator; default 1e-8.
        weight_decay: decoupled weight decay coefficient; default 1e-2.
        amsgrad: AMSGrad variant; default False.
        maximize, foreach, capturable, differentiable, fused: as in ``Adam``.

    State: as in ``Adam``.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            foreach=foreach,
            maximize=maximize,
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
            decoupled_weight_decay=True,
        )
