"""Which twin answers: the compiled module when it is built and allowed, else its pure-Python
reference (`_wire` / `_wire_py`, `_mmsg` / `_mmsg_py`, `_repeats` / `_repeats_py`).

`FASTVRRP_NO_EXTENSIONS=1` forces the pure twins at run time, as it does at build time.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

NO_EXTENSIONS = bool(os.environ.get("FASTVRRP_NO_EXTENSIONS"))


def load(name: str) -> tuple[ModuleType, str]:
    """`fastvrrp._<name>` and "cython", or `fastvrrp._<name>_py` and "python"."""
    if not NO_EXTENSIONS:
        try:
            return importlib.import_module(f"fastvrrp._{name}"), "cython"
        except ImportError:
            pass
    return importlib.import_module(f"fastvrrp._{name}_py"), "python"
