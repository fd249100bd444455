"""``Optimizer``: parameter groups, per-parameter state, ``zero_grad`` and torch's ``state_dict`` format.

Subclasses implement ``_update(param, grad, group)``: one parameter's update, in place on the
parameter's array and outside autograd, written as torch's single-tensor ("for-loop") implementation.
"""

from __future__ import annotations

import copy
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ..autograd import enable_grad
from ..tensor import Tensor

ParamsT = Iterable[Tensor] | Iterable[dict[str, Any]] | Iterable[tuple[str, Tensor]]


def _typename(value: Any) -> str:
    if isinstance(value, Tensor):
        return f"npconv.{type(value).__name__}"
    return f"{type(value).__module__}.{type(value).__qualname__}"


def lerp_(start: np.ndarray, end: np.ndarray, weight: float) -> None:
    """``start.lerp_(end, weight)`` with torch's two-sided formula (exact at both ends)."""
    if weight < 0.5:
        start += weight * (end - start)
    else:
        start[...] = end - (end - start) * (1 - weight)


def check_non_negative(**options: float) -> None:
    """torch's ``ValueError("Invalid ...")`` for the first option, in the given order, that is not ≥ 0
    (NaN included)."""
    for name, value in options.items():
        if not value >= 0.0:
            label = {"lr": "learning rate", "eps": "epsilon value"}.get(name, f"{name} value")
            raise ValueError(f"Invalid {label}: {value}")


def state_array(value: Any, dtype: np.dtype | None) -> Tensor:
    """A private copy of a saved state value (an npconv or torch tensor, or an array) as a Tensor."""
    if isinstance(value, Tensor):
        array = value._array
    elif hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch.Tensor
        array = value.detach().cpu().numpy()
    else:
        array = np.asarray(value)
    return Tensor._wrap(np.array(array, dtype=dtype, copy=True))


class Optimizer:
    """Base class of all optimizers.

    Args:
        params: an iterable of Tensors (or of ``(name, Tensor)`` pairs), or of dicts, each a parameter
            group: ``{"params": [...], "lr": ...}`` with options that override ``defaults`` for that group.
        defaults: the default value of every optimization option.

    Attributes:
        param_groups: list of dicts, each with its ``params`` list and every option.
        state: per-parameter dict of state tensors (momentum buffers, moment estimates, step counts).
    """

    def __init__(self, params: ParamsT, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or dicts, but got "
                + _typename(params)
            )
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for param_group in param_groups:
            self.add_param_group(param_group)

    def __repr__(self) -> str:
        text = self.__class__.__name__ + " ("
        for index, group in enumerate(self.param_groups):
            text += f"\nParameter Group {index}\n"
            for key in sorted(group):
                if key != "params":
                    text += f"    {key}: {group[key]}\n"
        return text + ")"

    # ----------------------------------------------------------------- groups
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own options (missing options take the defaults).

        Raises:
            TypeError: the group is not a dict, its params are a set, or one is not a Tensor.
            ValueError: a parameter is a non-leaf tensor or already belongs to another group.
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the ordering of tensors "
                "in sets will change between runs. Please use a list instead."
            )
        params = list(params)
        names = [param[0] for param in params if isinstance(param, tuple)]
        params = [param[1] if isinstance(param, tuple) else param for param in params]
        if names:
            if len(names) != len(params):
                raise ValueError("all optimizer params should be with/without names. Some param names are missing")
            param_group["param_names"] = names
        param_group["params"] = params
        for param in params:
            if not isinstance(param, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is " + _typename(param))
            if not (param.is_leaf or param._retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            param_group.setdefault(name, default)
        if len({id(p) for p in params}) != len(params):
            warnings.warn(
                "optimizer contains a parameter group with duplicate parameters; in future, this will cause an "
                "error; see github.com/pytorch/pytorch/issues/40967 for more information",
                stacklevel=3,
            )
        seen: set[int] = set()
        for group in self.param_groups:
            seen.update(id(p) for p in group["params"])
            if ("param_names" in param_group) != ("param_names" in group):
                kind = "with names" if "param_names" in param_group else "without names"
                raise ValueError(
                    "all optimizer param groups should be with/without names. "
                    f"cannot add param group {kind} to the optimizer"
                )
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    # ----------------------------------------------------------------- gradients and steps
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients: to None (default), or to zeros in place with ``set_to_none=False``."""
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                if set_to_none:
                    param.grad = None
                else:
                    param.grad.detach_()
                    param.grad._array[...] = 0

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; ``closure`` (re-evaluating the model and returning
        the loss) is called first, with gradients enabled, and its result returned."""
        self._opt_called = True
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is not None:
                    grad = param.grad._array
                    self._update(param, -grad if group["maximize"] else grad, group)
        return loss

    def _update(self, param: Tensor, grad: np.ndarray, group: dict[str, Any]) -> None:
        """Update ``param._array`` in place from ``grad`` (already negated for ``maximize``), keeping its
        state in ``self.state[param]``."""
        raise NotImplementedError

    # ----------------------------------------------------------------- state_dict
    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state in torch's layout: ``{"state": {index: {...}}, "param_groups": [...]}``
        where parameters are numbered in group order and each group's ``params`` lists their indices."""
        mapping: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {key: value for key, value in group.items() if key != "params"}
            for param in group["params"]:
                mapping.setdefault(id(param), len(mapping))
            packed["params"] = [mapping[id(param)] for param in group["params"]]
            groups.append(packed)
        state = {mapping[id(param)]: value for param, value in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state from ``state_dict()`` (of npconv or of torch): groups must match in number and size.

        State tensors are copied and cast to their parameter's dtype (``step`` keeps its own).
        """
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(self.param_groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(self.param_groups, saved_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match the size of optimizer's group")
        id_map = {
            saved: param
            for saved_group, group in zip(saved_groups, self.param_groups)
            for saved, param in zip(saved_group["params"], group["params"])
        }
        state: defaultdict[Any, dict[str, Any]] = defaultdict(dict)
        for key, value in state_dict["state"].items():
            if key not in id_map:
                state[key] = value
                continue
            param = id_map[key]
            state[param] = {
                name: self._load_state_value(name, item, param) for name, item in value.items()
            }
        for group, saved in zip(self.param_groups, saved_groups):
            saved["params"] = group["params"]
            if "param_names" in group and "param_names" not in saved:
                saved["param_names"] = group["param_names"]
        self.state = state
        self.param_groups = saved_groups

    @staticmethod
    def _load_state_value(name: str, value: Any, param: Tensor) -> Any:
        if value is None or isinstance(value, (int, float)):
            return value
        if name == "step":
            return state_array(value, None)
        return state_array(value, param._array.dtype if param.is_floating_point() else None)
