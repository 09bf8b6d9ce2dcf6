"""The headless core never imports Textual (it runs in cron, CI and over plain SSH)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import rltop.core


def test_core_imports_no_textual():
    modules = [m.name for m in pkgutil.walk_packages(rltop.core.__path__, "rltop.core.")]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"core pulled in Textual: {out.stdout}"
    assert len(modules) >= 10


def test_cli_help_and_version():
    out = subprocess.run(
        [sys.executable, "-m", "rltop", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("rltop ")
    out = subprocess.run(
        [sys.executable, "-m", "rltop", "--help"], capture_output=True, text=True, check=True
    )
    assert "demo" in out.stdout and "PATH" in out.stdout
