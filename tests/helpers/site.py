"""The hostile test site, started on 127.0.0.1 for a test."""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

from app.resources import demo_site_dir


def hostile_site_module() -> ModuleType:
    path = str(demo_site_dir())
    if path not in sys.path:
        sys.path.insert(0, path)
    return importlib.import_module("hostile_site")
