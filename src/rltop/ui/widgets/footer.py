"""The footer: the keys of the screen, the least used dropped first when the terminal is narrow.

Textual's footer cuts at the right edge, and the app's keys come last: at 80 columns ``?`` and
``q`` were the first to go. Here ``?`` (help lists everything) and ``q`` always stay; the
screen's less used keys make room first, then the rest from the end.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

#: actions that always keep their place in the footer
ALWAYS_SHOWN = ("quit", "help")
#: binding ids dropped first when room is short, least used first
DROP_FIRST = (
    "dashboard.smooth_less",
    "dashboard.smooth_more",
    "dashboard.jump_rollouts",
    "dashboard.next_run",
    "dashboard.compare",
    "dashboard.filter",
    "app.chat",
    "grid.toggle",
    "rollouts.next_match",
    "rollouts.export_listed",
    "rollouts.export",
    "rollouts.distribution",
    "chat.new",
    "chat.settings",
    "chat.next_model",
)
#: cells the command palette's key takes at the right edge
PALETTE_CELLS = 12


def footer_width(binding: Binding, key_display: str) -> int:
    """Cells one key takes in the footer: " key description " and a gap."""
    return len(key_display) + len(binding.description) + 3


class RltopFooter(Footer):
    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        active = self.screen.active_bindings
        shown: list[tuple[Binding, bool, str]] = []
        seen_actions: set[str] = set()
        for _node, binding, enabled, tooltip in active.values():
            if binding.show and binding.action not in seen_actions:
                seen_actions.add(binding.action)
                shown.append((binding, enabled, tooltip))
        room = self.app.size.width - (PALETTE_CELLS if self.show_command_palette else 0)
        keep = self._fit(shown, room)
        self.styles.grid_size_columns = len(keep)
        for binding, enabled, tooltip in keep:
            yield FooterKey(
                binding.key,
                self.app.get_key_display(binding),
                binding.description,
                binding.action,
                disabled=not enabled,
                tooltip=tooltip,
            ).data_bind(compact=Footer.compact)
        if self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE:
            try:
                _node, binding, enabled, tooltip = active[self.app.COMMAND_PALETTE_BINDING]
            except KeyError:
                return
            yield FooterKey(
                binding.key,
                self.app.get_key_display(binding),
                binding.description,
                binding.action,
                classes="-command-palette",
                disabled=not enabled,
                tooltip=binding.tooltip or binding.description,
            )

    def _fit(
        self, shown: list[tuple[Binding, bool, str]], room: int
    ) -> list[tuple[Binding, bool, str]]:
        """Drop keys (least used first, ``?`` and ``q`` never) until the rest fit in ``room``."""
        widths = [footer_width(b, self.app.get_key_display(b)) for b, _e, _t in shown]
        total = sum(widths)
        dropped: set[int] = set()

        def rank(i: int) -> tuple[int, int]:
            binding = shown[i][0]
            if binding.id in DROP_FIRST:
                return (0, DROP_FIRST.index(binding.id))
            return (1, -i)  # then from the end

        for i in sorted(range(len(shown)), key=rank):
            if total <= room:
                break
            if shown[i][0].action.split(".")[-1] in ALWAYS_SHOWN:
                continue
            dropped.add(i)
            total -= widths[i]
        return [item for i, item in enumerate(shown) if i not in dropped]

    def on_resize(self) -> None:
        self.call_after_refresh(self.recompose)
