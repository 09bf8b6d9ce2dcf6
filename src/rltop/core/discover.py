"""Finding sources under the user's folders and grouping them into runs.

A run is the folder that holds a trainer's files. Files in well-known sub-folders (a rollout dump
folder, ``checkpoint-N/``, a W&B ``files/`` folder, ...) belong to the folder above them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import NamedTuple

from rltop.core.lazyre import lazy

#: folders never worth descending into
IGNORED_DIRS = {
    ".git",
    ".hg",
    ".svn",
    "node_modules",
    "__pycache__",
    ".venv",
    "venv",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".tox",
    "site-packages",
    ".cache",
    ".ipynb_checkpoints",
}

#: hidden folders that trainers log into (OpenPipe ART: ``.art/<project>/models/<model>/``)
HIDDEN_DIRS_FOLLOWED = {".art"}

#: names of files that could be a source, before looking inside (cheap filter for big trees)
CANDIDATE_EXTS = (
    ".jsonl",
    ".json",
    ".ndjson",
    ".csv",
    ".log",
    ".out",
    ".txt",
    ".err",
    ".parquet",
    ".wandb",
)
#: ``config.yaml``: a W&B run's config (``files/config.yaml``); others are listed as not read
CANDIDATE_MARKERS = ("tfevents", "config.yaml")

#: sub-folders that belong to the run folder above them (checked from the file upwards)
CONTAINER_DIRS: tuple[str, ...] = (
    r"rollouts?",
    r"rollout_data(_dir)?",
    r"validation_data(_dir)?",
    r"val(idation)?_rollouts?",
    r"completions",
    r"trajectories",
    r"generations",
    r"samples",
    r"dumped_evals",
    r"files",
    r"checkpoint-\d+",
    r"global_step_?\d+(_evals)?",
    r"step_\d+",
    r"iteration_\d+",
    r"train",
    r"eval",
    r"val",
    r"valid",
    r"test",
    r"episodes",
    # prime-rl rollouts/step_N/{train,eval}/{all,effective}/; Keras' TensorBoard logs/validation/
    r"all",
    r"effective",
    r"validation",
)
#: one pattern for all of them (compiled once, matched once per folder name)
_CONTAINER = lazy("|".join(f"(?:{p})" for p in CONTAINER_DIRS))

MAX_FILE_COUNT = 200_000  # stop walking after this many entries: say so instead of hanging


class RunKey(NamedTuple):
    run_id: str  # absolute path of the run folder
    name: str  # what users see: the folder relative to the path they gave
    root: str


#: a log rotation suffix (``metrics.jsonl.1``): the rotated file is read as the same kind of
#: source (its history), so rotation loses nothing
ROTATED = lazy(r"\.\d{1,3}$")


def unrotated(name: str) -> str:
    """``metrics.jsonl.1`` -> ``metrics.jsonl`` (other names unchanged)."""
    return ROTATED.sub("", name)


def is_candidate(name: str) -> bool:
    lower = unrotated(name.lower())
    return lower.endswith(CANDIDATE_EXTS) or any(m in lower for m in CANDIDATE_MARKERS)


def resolve_path(path: str) -> str:
    """``path`` with symbolic links resolved: ``wandb/latest-run`` is the run it points to, so a
    run given (or found) twice through a link is read once."""
    return os.path.realpath(path)


def walk(paths: list[str]) -> Iterator[str]:
    """Candidate files under ``paths`` (files given directly are always yielded), each once: a
    file reached again through a link (or a folder given twice) is not yielded again."""
    seen = 0
    found: set[str] = set()
    for top in paths:
        if os.path.isfile(top):
            real = resolve_path(top)
            if real not in found:
                found.add(real)
                yield os.path.abspath(top)
            continue
        stack = [resolve_path(top)]
        while stack:
            folder = stack.pop()
            try:
                with os.scandir(folder) as entries:
                    items = sorted(entries, key=lambda e: e.name)
            except OSError:
                continue  # vanished or unreadable: the follower reports unreadable files it knows
            for entry in items:
                seen += 1
                if seen > MAX_FILE_COUNT:
                    return
                try:
                    if entry.is_dir(follow_symlinks=False):
                        if entry.name not in IGNORED_DIRS and (
                            not entry.name.startswith(".") or entry.name in HIDDEN_DIRS_FOLLOWED
                        ):
                            stack.append(entry.path)
                    elif entry.is_file() and is_candidate(entry.name):
                        real = resolve_path(entry.path) if entry.is_symlink() else entry.path
                        if real not in found:
                            found.add(real)
                            yield entry.path
                except OSError:
                    continue


def run_of(path: str, roots: list[str]) -> RunKey:
    """The run a file belongs to."""
    path = os.path.abspath(path)
    folder = os.path.dirname(path)
    root = _root_of(path, roots)
    # W&B media (``files/media/table/<key folders>/``) belongs to the run folder above files/
    marker = f"{os.sep}files{os.sep}media"
    at = folder.rfind(marker)
    if at >= len(root) and folder[at + len(marker) : at + len(marker) + 1] in ("", os.sep):
        folder = folder[:at]
    while folder != root and len(folder) > len(root) and _is_container(os.path.basename(folder)):
        folder = os.path.dirname(folder)
    name = (
        os.path.relpath(folder, root)
        if folder != root
        else os.path.basename(root.rstrip(os.sep)) or root
    )
    if name == ".":
        name = os.path.basename(folder) or folder
    return RunKey(folder, name, root)


def file_run(path: str, folder_run: RunKey) -> RunKey:
    """The run of a file that holds a whole run (a results CSV) beside others like it: named
    after the file, in its folder."""
    path = os.path.abspath(path)
    stem = os.path.basename(path).rsplit(".", 1)[0] or os.path.basename(path)
    rel = os.path.relpath(os.path.dirname(path), folder_run.root)
    name = stem if rel == "." else os.path.join(rel, stem)
    return RunKey(path, name, folder_run.root)


def _is_container(name: str) -> bool:
    lower = name.lower()
    return _CONTAINER.fullmatch(lower) is not None


def _root_of(path: str, roots: list[str]) -> str:
    best = ""
    for root in roots:
        root = os.path.abspath(root)
        if os.path.isfile(root):
            root = os.path.dirname(root)
        if (path == root or path.startswith(root.rstrip(os.sep) + os.sep)) and len(root) > len(
            best
        ):
            best = root
    return best or os.path.dirname(path)
