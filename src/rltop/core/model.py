"""Plain data shared by the headless core: what a parser returns, what the store hands out.

Nothing here imports Textual; the UI and the headless commands both consume these objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

#: A metric row: ``{"step": int, "<flat/metric/name>": float | str | None, ...}``.
MetricRow = dict[str, Any]

#: A rollout row, normalised by the rollout parsers. Core keys (all optional but ``step``):
#: ``step`` (int), ``prompt`` (str), ``completion`` (str), ``reward`` (float), ``group`` (str:
#: prompt id or the prompt text), ``length`` (int, completion characters), ``tokens`` (int),
#: ``split`` ("train" | "valid"), ``messages`` (JSON text of chat messages), ``extra`` (JSON text of
#: every other field). Extra scalar fields may also appear as their own keys.
RolloutRow = dict[str, Any]

#: a string column longer than this on average (bytes per row) is text: it moves to disk with the
#: prompt and completion under the memory budget, and a one-pass catch-up leaves it there
LONG_STRING = 64

#: where a rollout row is on disk and which format reads it back (``Parser.locate``)
ROW_LOCATION: tuple[str, ...] = ("_path", "_offset", "_len", "_format")

ROLLOUT_CORE_COLUMNS: tuple[str, ...] = (
    "step",
    "prompt",
    "completion",
    "reward",
    "group",
    "length",
    "tokens",
    "split",
    "messages",
    "extra",
)


class Skip(NamedTuple):
    """One input that could not be used, with the reason a user can act on."""

    reason: str
    line: int | None = None  # 1-based line number, when the source is line-oriented
    sample: str = ""  # a short, already-truncated excerpt of the bad input


@dataclass(eq=False)
class ParseResult:
    """What a parser produced from one batch of input."""

    metrics: list[MetricRow] = field(default_factory=list)
    rollouts: list[RolloutRow] = field(default_factory=list)
    skips: list[Skip] = field(default_factory=list)
    #: lines or records that were read and deliberately ignored (console chatter between ``step:``
    #: lines, W&B records that are not history), counted by reason in ``ignored_reasons``
    ignored: int = 0
    ignored_reasons: dict[str, int] = field(default_factory=dict)
    #: a polars DataFrame of rollouts, for bulk readers that bypass per-row dicts
    rollout_frame: Any = None
    #: metric rows as a polars DataFrame (``step`` Int64, then one Float64 column per key in the
    #: order the rows' keys first carry a number), for bulk readers; same meaning as ``metrics``
    metrics_frame: Any = None
    #: run configuration found in the source (trainer config), merged into the run's info
    config: dict[str, Any] = field(default_factory=dict)
    #: the name the source gives its run (a W&B display name): the run is shown by it
    run_name: str | None = None

    def ignore(self, reason: str, count: int = 1) -> None:
        """Count ``count`` lines or records deliberately not used, and why (``rltop sources``)."""
        self.ignored += count
        self.ignored_reasons[reason] = self.ignored_reasons.get(reason, 0) + count

    def extend(self, other: ParseResult) -> None:
        self.metrics.extend(other.metrics)
        self.rollouts.extend(other.rollouts)
        self.skips.extend(other.skips)
        self.ignored += other.ignored
        for reason, count in other.ignored_reasons.items():
            self.ignored_reasons[reason] = self.ignored_reasons.get(reason, 0) + count
        self.config.update(other.config)
        self.run_name = other.run_name or self.run_name
        if other.metrics_frame is not None:
            import polars as pl

            self.metrics_frame = (
                other.metrics_frame
                if self.metrics_frame is None
                else pl.concat([self.metrics_frame, other.metrics_frame], how="diagonal_relaxed")
            )
        if other.rollout_frame is not None:
            import polars as pl

            self.rollout_frame = (
                other.rollout_frame
                if self.rollout_frame is None
                else pl.concat([self.rollout_frame, other.rollout_frame], how="diagonal_relaxed")
            )

    @property
    def empty(self) -> bool:
        return not (
            self.metrics
            or self.rollouts
            or self.skips
            or self.ignored
            or self.config
            or self.run_name
            or (self.rollout_frame is not None and self.rollout_frame.height)
            or (self.metrics_frame is not None and self.metrics_frame.height)
        )


def clip_sample(text: str | bytes, limit: int = 80) -> str:
    """A short printable excerpt of bad input for messages (never the whole 20 MB line)."""
    if isinstance(text, bytes):
        text = text[: limit * 4].decode("utf-8", errors="replace")
    text = text[:limit]
    return "".join(ch if ch.isprintable() else "·" for ch in text)
