"""A large verl console block has its ``key:value`` parts read by columns (polars), giving what
the line-by-line path gives: the same frame, column order, ignored lines by class, skips; a text
value or a step out of range sends the block line by line."""

from __future__ import annotations

import random
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from columnhelp import assert_same_both_ways, read
from rltop.core.follow import Follower
from rltop.core.formats import console

PARTS = [
    "actor/loss:{v}",
    "actor/loss:{v}",
    "critic/score/mean:{v}",
    "timing_s/gen:{v}",
    " perf/throughput :{v}",
    "val-core/acc:{v}",
    "actor/loss:{v}",  # again in the same line: the last value, in the place of the first
    "no colon here",
    "spaced key:{v}",
    ":{v}",
    "x:",
    "flag:True",
    "gone:none",
    "np:np.float64({v})",
    "ratio:{v} ",
]
OTHER = [
    "(TaskRunner pid=1) INFO: starting",
    "Traceback (most recent call last):",
    '  File "x.py", line 1',
    " 45%|████      | 9/20 [00:01<00:01, 7.00it/s]",
    "WARNING: something",
    "",
    "   ",
    "step:3 - ",
    "step:4 - nothing:",
    "\x1b[36m(TaskRunner pid=1)\x1b[0m plain chatter",
]


def _read(path: Path, columns: bool) -> Follower:
    return read(path, console, columns)


def _same(path: Path) -> None:
    assert_same_both_ways(path, console)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10**9),
    steps=st.integers(3, 60),
    odd=st.sampled_from(["", "", "text", "huge", "cr", "ansi", "osc"]),
)
def test_the_column_path_reads_as_the_line_path(tmp_path_factory, seed, steps, odd):
    rng = random.Random(seed)
    lines = []
    for step in range(1, steps + 1):
        for _ in range(rng.randrange(3)):
            lines.append(rng.choice(OTHER))
        parts = [
            rng.choice(PARTS).format(v=rng.choice([rng.random(), -1e-5, 3, "nan"]))
            for _ in range(rng.randrange(1, 8))
        ]
        prefix = rng.choice(["", "(TaskRunner pid=7) ", "\x1b[36m(TaskRunner pid=7)\x1b[0m "])
        lines.append(f"{prefix}step:{step} - " + " - ".join(parts))
    at = rng.randrange(len(lines))
    if odd == "text":
        lines[at] += " - note:hello"
    elif odd == "huge":
        lines[at] = "step:99999999999999999999 - a:1"
    elif odd == "cr":
        lines[at] = " 10%|█ | 1/10\r" + lines[at] + "\r"
    elif odd == "ansi":
        lines[at] = "\x1b[1m" + lines[at] + "\x1b[0m"
    elif odd == "osc":
        lines[at] += "\x1b]0;title\x07"
    path = tmp_path_factory.mktemp("c") / "train.log"
    path.write_text("\n".join(lines) + "\n")
    _same(path)


def test_a_verl_log_is_read_by_columns(tmp_path: Path, monkeypatch):
    """Metrics every step, validation metrics every 10th: no line goes through the line path."""
    rng = random.Random(5)
    lines = []
    for step in range(1, 400):
        lines.append(f"(TaskRunner pid=9) INFO chatter {step}")
        parts = [f"actor/m{i}:{rng.random()!r}" for i in range(20)]
        if step % 10 == 0:
            parts.insert(3, f"val-core/acc:{rng.random()!r}")
        lines.append(f"\x1b[36m(TaskRunner pid=9)\x1b[0m step:{step} - " + " - ".join(parts))
    path = tmp_path / "train.log"
    path.write_text("\n".join(lines) + "\n")
    calls = []
    real = console._feed_columns

    def spy(block):
        calls.append(real(block))
        return calls[-1]

    monkeypatch.setattr(console, "_feed_columns", spy)
    _same(path)
    assert calls and all(c is not None for c in calls)
    (run,) = _read(path, True).store.snapshot().runs
    assert run.metrics.columns[:5] == ["step", "actor/m0", "actor/m1", "actor/m2", "actor/m3"]
    assert run.metrics.columns[-1] == "val-core/acc"
    assert run.metrics.height == 399
