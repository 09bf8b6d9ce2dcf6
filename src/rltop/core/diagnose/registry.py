"""Result types and the rule registry: ``Warning``, ``Finding``, ``Rule``, ``RULES``, ``@rule``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rltop.core.diagnose.series import mask_head, no_nulls

if TYPE_CHECKING:
    import polars as pl

    from rltop.core.diagnose.context import Context
    from rltop.core.diagnose.series import Series


SEVERITIES: tuple[str, ...] = ("info", "warning", "critical")
SEVERITY_RANK: dict[str, int] = {name: i for i, name in enumerate(SEVERITIES)}


@dataclass(frozen=True)
class Warning:  # the name the spec uses (shadows the builtin); ``RunWarning`` is an alias
    """One finding about one run, with the numbers behind it and what to do."""

    id: str
    severity: str
    run: str
    metrics: tuple[str, ...]
    step: int | None  # first step at which the condition held (the onset)
    evidence: str
    action: str
    title: str = ""
    run_id: str = ""
    at_step: int | None = None  # the latest step the evidence refers to
    #: the condition holds at the latest point (False: only the hysteresis keeps it active; a
    #: watcher does not start a warning in that state)
    holding: bool = field(default=True, compare=False)

    @property
    def since(self) -> int | None:
        """The onset step (alias of ``step``)."""
        return self.step

    @property
    def key(self) -> tuple[str, str]:
        """(run, rule id): a run has at most one active warning per rule."""
        return (self.run_id or self.run, self.id)

    @property
    def rank(self) -> int:
        return SEVERITY_RANK.get(self.severity, 0)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``rltop check --json`` and ``rltop watch --json``."""
        return {
            "id": self.id,
            "severity": self.severity,
            "run": self.run,
            "step": self.step,
            "metrics": list(self.metrics),
            "evidence": self.evidence,
            "action": self.action,
            "title": self.title,
        }


RunWarning = Warning


@dataclass(frozen=True, eq=False)
class Finding:
    """What a rule returns: the run, id and title are added by the caller."""

    severity: str
    step: int | None
    metrics: tuple[str, ...]
    evidence: str
    action: str | None = None
    at_step: int | None = None
    #: where the condition held, point by point (aligned with ``held_steps``): booleans (held at
    #: ``severity``) or severity ranks (-1 = not held; 0, 1, 2 = info, warning, critical). With it
    #: the engine decides whether the warning is active, its severity and its onset step (the
    #: ``step`` given is then ignored); without it the finding is reported as given.
    held: pl.Series | None = None
    held_steps: pl.Series | None = None
    #: action per reported severity (tiered rules), else ``action``
    tier_actions: Mapping[str, str] | None = None
    #: points the smoothing delays a change by (a trailing median of w points: (w − 1) // 2);
    #: the onset is dated that many points earlier
    lag: int = 0


#: put in evidence where the onset step goes: the engine replaces it with the step it settles on
ONSET = "\x00onset\x00"


def held_finding(
    s: Series,
    cond: pl.Series,
    min_points: int,
    severity: str,
    metrics: tuple[str, ...],
    evidence: Callable[[], str],
    action: str | None = None,
    **extra: Any,
) -> Finding | None:
    """The finding of a rule whose condition ``cond`` held point by point over ``s``: none before
    ``min_points`` points, None when it never held; dated at ``s``'s latest step. ``evidence`` is
    called only when there is a finding (it may divide by what the condition rules out)."""
    cond = mask_head(no_nulls(cond), int(min_points) - 1)
    if not cond.any():
        return None
    return Finding(
        severity,
        None,
        metrics,
        evidence(),
        action,
        at_step=s.at(-1),
        held=cond,
        held_steps=s.steps,
        **extra,
    )


@dataclass(frozen=True, eq=False)
class Rule:
    """A rule of the catalogue: id, default severity, the help text, defaults and its check."""

    id: str
    severity: str
    title: str
    help: str
    action: str
    defaults: dict[str, Any]
    check: Callable[[Context, dict[str, Any]], Finding | None]
    kind: str = "any"  # "sft" | "rl" | "any": the run kinds the rule applies to
    about: str = ""  # what it means in practice (the first paragraph of its docs section)
    #: rules this one overrides when both hold (opposite advice on the same series: the more
    #: specific one wins)
    excludes: tuple[str, ...] = ()


RULES: dict[str, Rule] = {}


def rule(
    id: str,
    severity: str,
    title: str,
    action: str,
    help: str,
    kind: str = "any",
    about: str = "",
    excludes: tuple[str, ...] = (),
    **defaults: Any,
) -> Callable[[Callable[[Context, dict[str, Any]], Finding | None]], Any]:
    """Register a rule function under its public id."""

    def wrap(func: Callable[[Context, dict[str, Any]], Finding | None]) -> Any:
        defaults.setdefault("enabled", True)
        RULES[id] = Rule(
            id,
            severity,
            title,
            " ".join(help.split()),
            action,
            defaults,
            func,
            kind,
            " ".join(about.split()),
            tuple(excludes),
        )
        return func

    return wrap
