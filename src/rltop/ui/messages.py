"""Messages the UI passes around. Past tense: they say what happened."""

from __future__ import annotations

from textual.message import Message


class StoreChanged(Message):
    """The follower changed the store. Bursts fold into one pending message (one redraw)."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, StoreChanged)


class RunSelected(Message):
    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        super().__init__()
