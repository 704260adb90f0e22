"""Package attributes loaded on first use (PEP 562), so importing a package does not import all it offers.

__getattr__ = lazy_attributes(__name__, {"create_app": "app", ...})  # name -> submodule that defines it
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_attributes(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` for `package`: `name` is imported from `package.<homes[name]>` when first read."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{home}"), name)

    return __getattr__
