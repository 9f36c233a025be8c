"""Package faces that import their parts on first use (PEP 562), so that a command needing one
name does not load every library the package's other parts need."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_face(package: str, parts: Mapping[str, Iterable[str]]
              ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of a package face whose names load when first used.

    Args:
        package: the face's ``__name__``.
        parts: module -> the names the face takes from it; a name that is the module's own
            last part (``"serving.ledger": ("ledger", ...)``) is the module itself.

    Returns:
        ``(__getattr__, __dir__)``, to assign in the face. A name, once loaded, is bound in the
        face, so later look-ups cost nothing.
    """
    where = {name: module for module, names in parts.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        loaded = importlib.import_module(module)
        value = loaded if module == f"{package}.{name}" else getattr(loaded, name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(where)

    return __getattr__, __dir__
