"""Where exports may go and what their files are called (``rltop export``, the rollout dialog).

- An export inside a followed logs folder would be read back as logs (doubled rollouts, a
  phantom run): it is refused unless the user insists.
- A run's file name is its name made safe for a file system; when that loses information
  (``a/b`` and ``a_b`` would both be ``a_b``) or is too long for one path component, a short
  stable hash of the full name is added, so different runs never share a file.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable

from rltop.core.lazyre import lazy

#: longest stem (bytes) before the hash: file systems allow 255 bytes per name, and a suffix
#: such as ``.rollouts.parquet`` and the hash must fit too
MAX_STEM = 120
_UNSAFE = lazy(r"[^A-Za-z0-9._-]+")


def logs_root_of(path: str) -> str:
    real = os.path.realpath(path)
    return os.path.dirname(real) if os.path.isfile(real) else real


def inside_logs(target: str, log_paths: Iterable[str]) -> str | None:
    """The followed logs folder ``target`` lies in (symlinks resolved), or None."""
    real = os.path.realpath(os.path.expanduser(target))
    for path in log_paths:
        root = logs_root_of(path)
        if real == root or real.startswith(root.rstrip(os.sep) + os.sep):
            return root
    return None


def export_stem(name: str) -> str:
    """A file-name stem for run ``name``: the name itself when it is already safe and short,
    else a safe, shortened form plus 10 hex digits of the name's SHA-1 (stable across runs)."""
    slug = _UNSAFE.sub("_", name).strip("_.") or "run"
    if slug == name and len(slug.encode()) <= MAX_STEM:
        return slug
    digest = hashlib.sha1(name.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{slug[:MAX_STEM].rstrip('_.')}-{digest}"


def unique_stems(names: Iterable[str]) -> list[str]:
    """:func:`export_stem` of each name, made distinct if two still clash (case-insensitive file
    systems: ``Run`` and ``run``)."""
    out: list[str] = []
    seen: set[str] = set()
    for name in names:
        stem = export_stem(name)
        candidate, n = stem, 2
        while candidate.lower() in seen:
            candidate, n = f"{stem}-{n}", n + 1
        seen.add(candidate.lower())
        out.append(candidate)
    return out
