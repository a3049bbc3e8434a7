"""`hardware` and `analysis` must not import torch or ray (checked in a fresh interpreter)."""

from __future__ import annotations

import subprocess
import sys

import pytest

CHECK = """
import importlib, pkgutil, sys
import {package}
for info in pkgutil.walk_packages({package}.__path__, "{package}."):
    importlib.import_module(info.name)
heavy = sorted(m for m in ("torch", "ray", "optuna", "tonic") if m in sys.modules)
print(",".join(heavy))
"""


@pytest.mark.parametrize("package", ["hardware", "analysis"])
def test_package_imports_no_training_stack(package):
    out = subprocess.run([sys.executable, "-c", CHECK.format(package=package)],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"{package} imported {out}"
