"""``d``: the reward distribution of one step's rollouts — a histogram and each group's rewards.

Reached from the dashboard (the charted metric's step) and from the rollout list (the
highlighted rollout's step); ``[``/``]`` move to the previous or next step with rollouts.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from rltop.core.distribution import Distribution, distribution
from rltop.core.store import StoreSnapshot
from rltop.ui.safe import clean
from rltop.ui.widgets.footer import RltopFooter

#: one cell per rollout in a group's strip: its reward's height within the step's range
LEVELS = "▁▂▃▄▅▆▇█"


def histogram_text(dist: Distribution, width: int) -> Text:
    text = Text()
    if not dist.rewards:
        text.append("No rollout at this step has a reward.", style="dim")
        return text
    total = len(dist.rewards)
    labels = [bar.label for bar in dist.bars]
    label_width = max(len(label) for label in labels)
    most = max(bar.count for bar in dist.bars) or 1
    room = max(5, width - label_width - 18)
    for bar, label in zip(dist.bars, labels, strict=True):
        length = round(room * bar.count / most)
        text.append(f"{label:>{label_width}} │", style="dim")
        text.append("█" * length, style="bold")
        text.append(f" {bar.count} ({bar.count / total:.0%})\n")
    return text


def groups_text(dist: Distribution, width: int) -> Text:
    text = Text()
    if not dist.groups:
        text.append("These rollouts carry no groups (no group id, no shared prompt).", style="dim")
        return text
    lo, hi = min(dist.rewards), max(dist.rewards)
    span = hi - lo
    equal = dist.equal_groups
    text.append(
        f"{len(dist.groups)} groups · {equal} with all rewards equal (no advantage signal)",
        style="bold",
    )
    top = sum(1 for g in dist.groups if g.all_equal and g.rewards[0] == hi)
    bottom = sum(1 for g in dist.groups if g.all_equal and g.rewards[0] == lo)
    if equal and span > 0:
        text.append(f": {top} all at the top ({hi:g}), {bottom} all at the bottom ({lo:g})")
    text.append("\n\n")
    name_width = min(max(12, width // 4), max(len(g.group) for g in dist.groups))
    strip_room = max(4, width - name_width - 30)
    for g in sorted(dist.groups, key=lambda g: g.mean):
        name = clean(g.group, keep_newlines=False)
        if len(name) > name_width:
            name = name[: name_width - 1] + "…"
        text.append(f"{name:<{name_width}} ", style="dim")
        cells = "".join(
            LEVELS[round((r - lo) / span * (len(LEVELS) - 1)) if span > 0 else len(LEVELS) - 1]
            for r in g.rewards[:strip_room]
        )
        text.append(f"{cells:<{min(strip_room, len(g.rewards))}}", style="bold")
        more = len(g.rewards) - strip_room
        if more > 0:
            text.append(f"+{more}", style="dim")
        text.append(f"  n={len(g.rewards)} mean {g.mean:.3g}  {g.rewards[0]:g}…{g.rewards[-1]:g}")
        if g.all_equal:
            text.append("  all equal", style="italic")
        text.append("\n")
    return text


class DistributionScreen(Screen):
    """The shape of one step's rewards: saturated, bimodal or spread."""

    BINDINGS = [
        Binding("escape,d", "back", "Back", id="distribution.back"),
        Binding("left_square_bracket", "step(-1)", "Prev step", id="distribution.prev"),
        Binding("right_square_bracket", "step(1)", "Next step", id="distribution.next"),
    ]

    DEFAULT_CSS = """
    DistributionScreen { layout: vertical; }
    #dist-title { height: 1; background: $primary-background; padding: 0 1; }
    #dist-body { height: 1fr; padding: 0 1; }
    #dist-body Static { height: auto; margin: 0 0 1 0; }
    """

    def __init__(self, snapshot: StoreSnapshot, run_id: str | None, step: int) -> None:
        super().__init__()
        self.snapshot = snapshot
        self.run_id = run_id
        self.step = step
        self.dist: Distribution | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="dist-title")
        with VerticalScroll(id="dist-body"):
            yield Static(id="dist-histogram")
            yield Static(id="dist-groups")
        yield RltopFooter()

    def on_mount(self) -> None:
        self._show()
        self.query_one("#dist-body").focus()

    def on_resize(self) -> None:
        self._show()

    def show_snapshot(self, snap: StoreSnapshot) -> None:
        """Live data: redraw the same step with the newest rollouts."""
        self.snapshot = snap
        self._show()

    def _steps(self) -> list[int]:
        run = self.snapshot.run(self.run_id) if self.run_id else None
        if run is None or run.rollouts.is_empty():
            return []
        return [int(s) for s in run.rollouts.get_column("step").unique().sort().to_list()]

    def action_step(self, direction: int) -> None:
        steps = self._steps()
        if not steps:
            return
        if self.step in steps:
            at = steps.index(self.step) + direction
        else:
            at = next((i for i, s in enumerate(steps) if s > self.step), len(steps)) - (
                direction < 0
            )
        self.step = steps[max(0, min(len(steps) - 1, at))]
        self._show()

    def action_back(self) -> None:
        self.app.pop_screen()

    def _show(self) -> None:
        run = self.snapshot.run(self.run_id) if self.run_id else None
        title = Text("reward distribution", style="bold")
        width = max(30, self.size.width - 4)
        if run is None:
            self.query_one("#dist-title", Static).update(title)
            return
        self.dist = dist = distribution(run.rollouts, self.step)
        title.append(f" │ {clean(run.name, keep_newlines=False)} · step {self.step}")
        title.append(f" · {len(dist.rewards)} rewards", style="dim")
        if dist.missing:
            title.append(f" ({dist.missing} rollouts without one)", style="dim")
        title.append("  [ ] step", style="dim")
        self.query_one("#dist-title", Static).update(title)
        self.query_one("#dist-histogram", Static).update(histogram_text(dist, width))
        self.query_one("#dist-groups", Static).update(groups_text(dist, width))
