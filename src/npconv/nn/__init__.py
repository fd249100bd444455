"""``npconv.nn``: modules, parameters, initialisers and the functional API."""

from . import functional, init
from .modules import *  # noqa: F403
from .modules import Module, ModuleDict, ModuleList, Sequential
from .parameter import Buffer, Parameter

__all__ = ["Buffer", "Module", "ModuleDict", "ModuleList", "Parameter", "Sequential", "functional", "init"]
