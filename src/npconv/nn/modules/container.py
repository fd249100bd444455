"""Containers: ``Sequential``, ``ModuleList`` and ``ModuleDict``."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from .module import Module, _add_indent


class Sequential(Module):
    """Modules applied one after another; built from modules or an OrderedDict of named modules."""

    def __init__(self, *args: Any) -> None:
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, module in args[0].items():
                self.add_module(name, module)
        else:
            for index, module in enumerate(args):
                self.add_module(str(index), module)

    def _index(self, index: int) -> str:
        size = len(self._modules)
        if not -size <= index < size:
            raise IndexError(f"index {index} is out of range")
        return list(self._modules)[index % size]

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return self.__class__(OrderedDict(list(self._modules.items())[index]))
        return self._modules[self._index(index)]

    def __setitem__(self, index: int, module: Module) -> None:
        setattr(self, self._index(index), module)

    def __delitem__(self, index: int | slice) -> None:
        keys = list(self._modules)[index] if isinstance(index, slice) else [self._index(index)]
        for key in keys:
            del self._modules[key]
        _renumber(self)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def append(self, module: Module) -> Sequential:
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> Sequential:
        for module in modules:
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> Sequential:
        if not isinstance(module, Module):
            raise AssertionError(f"module should be of type: {Module}")
        size = len(self._modules)
        if not -size <= index <= size:
            raise IndexError(f"Index out of range: {index}")
        _insert(self, index + size if index < 0 else index, module)
        return self

    def pop(self, index: int | slice) -> Module:
        module = self[index]
        del self[index]
        return module

    def forward(self, input: Any) -> Any:  # noqa: A002
        output = input
        for module in self:
            output = module(output)
        return output


class ModuleList(Module):
    """A list of modules, registered so their parameters are found."""

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return ModuleList(list(self._modules.values())[index])
        size = len(self)
        if not -size <= index < size:
            raise IndexError(f"index {index} is out of range")
        return self._modules[str(index % size)]

    def __setitem__(self, index: int, module: Module) -> None:
        size = len(self)
        if not -size <= index < size:
            raise IndexError(f"index {index} is out of range")
        self.add_module(str(index % size), module)

    def __delitem__(self, index: int | slice) -> None:
        size = len(self)
        if isinstance(index, slice):
            positions = list(range(size))[index]
        elif -size <= index < size:
            positions = [index % size]
        else:
            raise IndexError(f"index {index} is out of range")
        for position in positions:
            del self._modules[str(position)]
        _renumber(self)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)

    def __add__(self, other: Iterable[Module]) -> ModuleList:
        return ModuleList([*self, *other])

    def __repr__(self) -> str:
        """torch's layout: a run of consecutive modules with equal reprs prints once, as ``(i-j): n x``."""
        reprs = [repr(module) for module in self]
        if not reprs:
            return type(self).__name__ + "()"
        runs: list[list[Any]] = []  # [first index, last index, repr]
        for index, text in enumerate(reprs):
            if runs and runs[-1][2] == text:
                runs[-1][1] = index
            else:
                runs.append([index, index, text])
        lines = []
        for start, end, text in runs:
            label = f"({start}): {text}" if start == end else f"({start}-{end}): {end - start + 1} x {text}"
            lines.append(_add_indent(label, 2))
        return type(self).__name__ + "(\n  " + "\n  ".join(lines) + "\n)"

    def pop(self, index: int | slice) -> Module:
        module = self[index]
        del self[index]
        return module

    def append(self, module: Module) -> ModuleList:
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        for module in modules:
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> None:
        _insert(self, index, module)


class ModuleDict(Module):
    """A dict of named modules, registered so their parameters are found."""

    def __init__(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        del self._modules[key]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: str) -> bool:
        return key in self._modules

    def keys(self) -> Iterable[str]:
        return self._modules.keys()

    def values(self) -> Iterable[Module]:
        return self._modules.values()

    def items(self) -> Iterable[tuple[str, Module]]:
        return self._modules.items()

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        pairs = modules.items() if isinstance(modules, Mapping) else modules
        for key, module in pairs:
            self.add_module(key, module)

    def pop(self, key: str) -> Module:
        return self._modules.pop(key)

    def clear(self) -> None:
        self._modules.clear()


def _renumber(container: Module) -> None:
    """Keys 0..n-1 again after a deletion, as torch keeps them."""
    modules = list(container._modules.values())
    container._modules.clear()
    container._modules.update((str(position), module) for position, module in enumerate(modules))


def _insert(container: Module, index: int, module: Module) -> None:
    """Insert before ``index`` (Python's list.insert rule) and renumber."""
    modules = list(container._modules.values())
    modules.insert(index, module)
    container._modules.clear()
    container._modules.update((str(position), item) for position, item in enumerate(modules))
