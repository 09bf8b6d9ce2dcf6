"""One rollout in full (Enter), a prompt's group (p), and export to a JSON file (e).

Everything shown here was written by a model or a logger: it is turned into ``Text`` through
``safe_text``/``clean`` (no markup, no escape sequences) before it reaches a widget, tree labels
included.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from typing import Any

import polars as pl
from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Collapsible, Input, Static, Tree

from rltop.core.coldtext import COLD, LOCATION, cold_pieces, fill_heads, load_text
from rltop.core.exportpath import inside_logs
from rltop.core.messages import content_text, parse_messages, split_think
from rltop.core.numfmt import fmt_value
from rltop.core.pagedtext import LONG_TEXT, PagedText
from rltop.core.search import RolloutQuery, match_spans
from rltop.ui.safe import clean
from rltop.ui.typed import rltop_app
from rltop.ui.widgets.footer import RltopFooter

CORE_FIELDS = ("step", "reward", "group", "length", "tokens", "split")
TEXT_FIELDS = ("prompt", "completion", "messages", "extra")


def full_row(frame: pl.DataFrame, row: int) -> dict[str, Any]:
    """Row ``row`` of ``frame`` as a dict, its text read back from disk if it was dropped."""
    return load_text(frame.row(row, named=True))


def highlighted(text: str, query: RolloutQuery | None, style: str = "") -> Text:
    """``text`` made inert, with the query's matches marked."""
    out = Text(clean(text), style=style)
    if query is not None and query.has_text:
        for a, b in match_spans(out.plain, query, limit=2000):
            out.stylize("bold reverse", a, b)
    return out


def pretty_json(value: Any) -> str:
    """Arguments or results as indented JSON when they are JSON (strings holding JSON too)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    try:
        return json.dumps(value, indent=2, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


def tool_tree(calls: list[Any], results: dict[str, Any]) -> Tree:
    """Tool calls as a tree: name, arguments (pretty JSON), result."""
    tree: Tree = Tree(Text(f"tool calls ({len(calls)})", style="bold"), classes="tools")
    tree.show_root = True
    for call in calls:
        if not isinstance(call, dict):
            tree.root.add_leaf(Text(clean(str(call))))
            continue
        fn = call.get("function") if isinstance(call.get("function"), dict) else call
        name = str(fn.get("name", "?"))
        node = tree.root.add(Text(clean(name, keep_newlines=False), style="bold"))
        args = fn.get("arguments", fn.get("args", fn.get("input")))
        arg_node = node.add(Text("arguments", style="italic"))
        for line in pretty_json(args).splitlines()[:400]:
            arg_node.add_leaf(Text(clean(line, keep_newlines=False)))
        call_id = call.get("id")
        if call_id is not None and call_id in results:
            res_node = node.add(Text("result", style="italic"))
            for line in pretty_json(results[call_id]).splitlines()[:400]:
                res_node.add_leaf(Text(clean(line, keep_newlines=False)))
        node.expand_all()
    tree.root.expand()
    return tree


def default_export_dir(log_paths: list[str]) -> str:
    """Where exports go: the working directory, unless it is inside a followed logs folder."""
    cwd = os.path.realpath(os.getcwd())
    for path in log_paths:
        root = os.path.realpath(path)
        if os.path.isfile(root):
            root = os.path.dirname(root)
        if cwd == root or cwd.startswith(root.rstrip(os.sep) + os.sep):
            return os.path.join(tempfile.gettempdir(), "rltop-export")
    if not os.access(cwd, os.W_OK):
        return os.path.join(tempfile.gettempdir(), "rltop-export")
    return cwd


def export_document(row: dict[str, Any]) -> dict[str, Any]:
    """A rollout as a JSON document: messages and extras decoded, where it came from last."""
    doc: dict[str, Any] = {}
    for key, value in row.items():
        if key in LOCATION or key.startswith("_"):
            continue
        if key in ("messages", "extra") and isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        doc[key] = value
    if row.get("_path"):
        doc["source"] = {"path": row["_path"], "offset": row.get("_offset")}
    return doc


def write_export(row: dict[str, Any], path: str) -> str:
    path = os.path.abspath(os.path.expanduser(path))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(export_document(row), fh, indent=2, ensure_ascii=False, default=str)
        fh.write("\n")
    return path


def export_row(app: App, frame: pl.DataFrame, row: int) -> None:
    """Ask where to write rollout ``row`` (a default outside the logs is filled in), then write."""
    data = full_row(frame, row)
    folder = default_export_dir(rltop_app(app.screen).paths)
    name = f"rollout-step{data.get('step')}-row{row}.json"
    app.push_screen(ExportScreen(data, os.path.join(folder, name)))


class ExportScreen(ModalScreen[str | None]):
    """Where to write the JSON file; Enter writes, Esc cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    ExportScreen { align: center middle; }
    ExportScreen > Vertical { width: 90; max-width: 100%; height: auto; border: round $accent;
        background: $surface; padding: 0 1; }
    ExportScreen #export-error { color: $error; }
    """

    def __init__(self, row: dict[str, Any], default_path: str) -> None:
        super().__init__()
        self.row = row
        self.default_path = default_path
        self._insisted: str | None = None  # a path inside the logs the user confirmed

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text("Export this rollout as JSON to (Enter writes, Esc cancels):"))
            yield Input(value=self.default_path, id="export-path")
            yield Static(id="export-error")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def _write(self, event: Input.Submitted) -> None:
        target = event.value.strip() or self.default_path
        logs = inside_logs(target, getattr(self.app, "paths", []))
        if logs is not None and target != self._insisted:
            # rltop would read the file back as logs: refuse once, a second Enter insists
            self._insisted = target
            self.query_one("#export-error", Static).update(
                Text(
                    f"{clean(target, keep_newlines=False)} is inside the logs folder "
                    f"{clean(logs, keep_newlines=False)}: rltop would read it back as a "
                    "rollout. Choose a path outside it, or press Enter again to write there."
                )
            )
            return
        try:
            path = write_export(self.row, target)
        except OSError as exc:
            self.query_one("#export-error", Static).update(
                Text(f"cannot write: {exc.strerror or exc}")
            )
            return
        self.app.notify(f"Exported to {path}", title="export", timeout=8)
        self.dismiss(path)

    def action_cancel(self) -> None:
        self.dismiss(None)


class RolloutDetailScreen(Screen):
    """One rollout: fields, prompt and completion (or the conversation), tool calls."""

    BINDINGS = [
        Binding("escape", "back", "Back", id="detail.back"),
        Binding("t", "toggle_thinking", "Thinking", id="detail.thinking"),
        Binding("e", "export", "Export", id="detail.export"),
        Binding("p", "group", "Group", id="detail.group"),
        Binding("r", "replay", "Ask checkpoint", id="detail.replay"),
        Binding("n", "next_match(1)", "Next match", id="detail.next_match"),
        Binding("N", "next_match(-1)", "Prev match", show=False, id="detail.prev_match"),
        Binding("j,down", "scroll(1)", "Down", show=False),
        Binding("k,up", "scroll(-1)", "Up", show=False),
        # priority: before the scroll view's own, so paging on at the end turns a long text's page
        Binding("pagedown", "page(1)", "Page down", show=False, priority=True),
        Binding("pageup", "page(-1)", "Page up", show=False, priority=True),
        Binding("right_square_bracket", "text_page(1)", "Next text page", show=False),
        Binding("left_square_bracket", "text_page(-1)", "Prev text page", show=False),
        Binding("g,home", "top", "Top", show=False),
        Binding("G,end", "bottom", "Bottom", show=False),
    ]

    DEFAULT_CSS = """
    RolloutDetailScreen { layout: vertical; }
    RolloutDetailScreen #dtitle { height: 1; background: $primary-background; color: $text; padding: 0 1; }
    RolloutDetailScreen #body { height: 1fr; background: $surface; padding: 0 1; }
    RolloutDetailScreen .section { color: $accent; text-style: bold; margin-top: 1; }
    RolloutDetailScreen .role { color: $secondary; text-style: bold; margin-top: 1; }
    RolloutDetailScreen .fields { color: $text; }
    RolloutDetailScreen Collapsible { padding: 0; margin: 0; border: none; background: $surface; }
    RolloutDetailScreen Collapsible > Contents { padding: 0 0 0 2; }
    RolloutDetailScreen .think { color: $text-muted; }
    RolloutDetailScreen Tree { height: auto; max-height: 40; background: $surface; }
    """

    def __init__(
        self,
        frame: pl.DataFrame,
        row: int,
        query: RolloutQuery | None = None,
        *,
        screen: Screen | None = None,
    ) -> None:
        super().__init__()
        self.frame = frame
        self.row_index = row
        self.search_query = query
        self.data = full_row(frame, row)
        #: text fields too long to draw whole: on disk, shown a page at a time (the row's own
        #: copy is dropped; export and replay read the row again)
        self.paged: dict[str, PagedText] = {}
        # a line too long to read whole: its texts go from disk to pages a piece at a time
        for name, entry in self.data.pop(COLD, {}).items():
            self.paged[name] = PagedText(cold_pieces(entry))
            self.data[name] = None
        for name in ("prompt", "completion"):
            value = self.data.get(name)
            if isinstance(value, str) and len(value) > LONG_TEXT:
                self.paged[name] = PagedText(value)
                self.data[name] = None
        for name, value in self.data.items():  # e.g. a group named by its (paged) prompt
            if isinstance(value, str) and len(value) > LONG_TEXT and name not in TEXT_FIELDS:
                self.data[name] = value[:2000] + "…"
        self._match_widgets: list[Static] = []
        self._match_at = -1

    def compose(self) -> ComposeResult:
        yield Static(self._title(), id="dtitle")
        with VerticalScroll(id="body"):
            yield from self._fields()
            messages = self._messages()
            if messages:
                yield Static(Text("conversation", style="bold"), classes="section")
                yield from self._conversation(messages)
            else:
                yield Static(Text("prompt"), classes="section")
                if "prompt" in self.paged:
                    yield PagedView(self.paged["prompt"], id="paged-prompt")
                else:
                    yield self._text_static(self.data.get("prompt") or "")
                yield Static(Text("completion"), classes="section")
                if "completion" in self.paged:
                    yield PagedView(self.paged["completion"], id="paged-completion")
                else:
                    yield from self._with_thinking(self.data.get("completion") or "")
        yield RltopFooter()

    def on_mount(self) -> None:
        self.query_one("#body").focus()

    # -- building ------------------------------------------------------------------------------
    def _title(self) -> Text:
        d = self.data
        title = Text()
        title.append("rollout ", style="bold")
        title.append(f"  step {d.get('step')}")
        reward = d.get("reward")
        title.append(f"  reward {fmt_value(reward) if reward is not None else '—'}")
        if d.get("length") is not None:
            title.append(f"  length {d.get('length')}")
        title.append(
            "  t: thinking · e: export · p: group · r: ask checkpoint · Esc: back", style="dim"
        )
        return title

    def _fields(self):
        d = self.data
        lines = Text()
        names = [k for k in CORE_FIELDS if k in d] + sorted(
            k for k in d if k not in CORE_FIELDS and k not in TEXT_FIELDS and not k.startswith("_")
        )
        for name in names:
            value = d.get(name)
            if value is None:
                continue
            shown = fmt_value(value) if isinstance(value, float) else str(value)
            if name == "group" and len(shown) > 120:
                shown = shown[:120] + "…"
            lines.append(f"{clean(name, keep_newlines=False)}: ", style="bold")
            lines.append(clean(shown, keep_newlines=False) + "\n")
        extra = d.get("extra")
        if isinstance(extra, str) and extra:
            try:
                decoded = json.loads(extra)
            except ValueError:
                decoded = {"extra": extra}
            if isinstance(decoded, dict):
                for key, value in decoded.items():
                    lines.append(f"{clean(str(key), keep_newlines=False)}: ", style="bold")
                    lines.append(
                        clean(json.dumps(value, ensure_ascii=False, default=str)[:2000]) + "\n"
                    )
        yield Static(Text("fields"), classes="section")
        lines.rstrip()
        yield Static(lines if lines.plain else Text("—"), classes="fields")

    def _messages(self) -> list[dict[str, Any]]:
        raw = self.data.get("messages")
        return (parse_messages(raw) or []) if isinstance(raw, str) else []

    def _conversation(self, messages: list[dict[str, Any]]):
        results = {
            m.get("tool_call_id"): m.get("content")
            for m in messages
            if m.get("role") == "tool" and m.get("tool_call_id") is not None
        }
        shown_results = set()
        for i, msg in enumerate(messages):
            role = clean(str(msg.get("role", "?")), keep_newlines=False)
            call_id = msg.get("tool_call_id")
            if msg.get("role") == "tool" and call_id in shown_results:
                continue  # already shown under its call
            name = msg.get("name")
            label = f"── {i + 1}. {role}" + (
                f" ({clean(str(name), keep_newlines=False)})" if name else ""
            )
            yield Static(Text(label), classes="role")
            content = content_text(msg.get("content"))
            if msg.get("role") == "assistant":
                yield from self._with_thinking(content)
            elif content:
                yield self._text_static(content)
            calls = msg.get("tool_calls")
            if isinstance(calls, list) and calls:
                yield tool_tree(calls, results)
                shown_results.update(
                    c.get("id") for c in calls if isinstance(c, dict) and c.get("id") in results
                )

    def _text_static(self, text: str, classes: str = "") -> Static:
        widget = Static(highlighted(text, self.search_query), classes=classes)
        if (
            self.search_query is not None
            and self.search_query.has_text
            and match_spans(text, self.search_query, 1)
        ):
            self._match_widgets.append(widget)
        return widget

    def _with_thinking(self, text: str):
        for kind, part in split_think(text):
            if kind == "reasoning":
                title = f"thinking ({len(part):,} chars) — t expands"
                with Collapsible(title=title, collapsed=True, classes="thinking"):
                    yield self._text_static(part, "think")
            elif part.strip():
                yield self._text_static(part.strip("\n"))

    # -- actions -------------------------------------------------------------------------------
    def action_back(self) -> None:
        self.app.pop_screen()

    def action_toggle_thinking(self) -> None:
        boxes = list(self.query(Collapsible))
        if not boxes:
            self.notify("No <think> blocks in this rollout.", timeout=2)
            return
        expand = any(b.collapsed for b in boxes)
        for box in boxes:
            box.collapsed = not expand

    def _whole_row(self) -> dict[str, Any]:
        """The row with every text in full (paged texts are read again for export/replay)."""
        return full_row(self.frame, self.row_index) if self.paged else self.data

    def action_export(self) -> None:
        folder = default_export_dir(rltop_app(self).paths)
        name = f"rollout-step{self.data.get('step')}-row{self.row_index}.json"
        self.app.push_screen(ExportScreen(self._whole_row(), os.path.join(folder, name)))

    def action_group(self) -> None:
        self.app.push_screen(GroupScreen(self.frame, self.row_index, self.search_query))

    def action_replay(self) -> None:
        """Send this rollout's prompt to the current checkpoint; the logged answer stays beside it."""
        from rltop.ui.screens.chat import replay_rollout

        replay_rollout(self.app, self._whole_row())

    def action_next_match(self, direction: int) -> None:
        if not self._match_widgets:
            self.notify("No matches of the query here.", timeout=2)
            return
        self._match_at = (self._match_at + direction) % len(self._match_widgets)
        widget = self._match_widgets[self._match_at]
        for box in widget.ancestors:
            if isinstance(box, Collapsible):
                box.collapsed = False
        self.query_one("#body", VerticalScroll).scroll_to_widget(widget, animate=False, top=True)

    def action_scroll(self, delta: int) -> None:
        body = self.query_one("#body", VerticalScroll)
        body.scroll_to(y=body.scroll_y + delta, animate=False)

    def action_page(self, direction: int) -> None:
        body = self.query_one("#body", VerticalScroll)
        at_edge = body.scroll_y >= body.max_scroll_y if direction > 0 else body.scroll_y <= 0
        views = list(self.query(PagedView))
        if at_edge and views:
            # the end of what is drawn: the next (or previous) page of the long text
            view = views[-1] if direction > 0 else views[0]
            if view.turn(direction):
                body.scroll_to_widget(view, animate=False, top=True)
                return
        body.scroll_to(y=body.scroll_y + direction * (body.size.height - 2), animate=False)

    def action_text_page(self, direction: int) -> None:
        views = list(self.query(PagedView))
        if views:
            view = views[-1]
            view.turn(direction)
            self.query_one("#body", VerticalScroll).scroll_to_widget(view, animate=False, top=True)

    def on_unmount(self) -> None:
        for paged in self.paged.values():
            paged.close()

    def action_top(self) -> None:
        self.query_one("#body", VerticalScroll).scroll_home(animate=False)

    def action_bottom(self) -> None:
        self.query_one("#body", VerticalScroll).scroll_end(animate=False)


class PagedView(Vertical):
    """One page of a very long text, read from disk when shown; ``]``/``[`` (or PgDn/PgUp at the
    end of the view) turn pages."""

    DEFAULT_CSS = """
    PagedView { height: auto; }
    PagedView .pager { color: $text-muted; text-style: italic; }
    """

    def __init__(self, text: PagedText, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.text = text
        self.index = 0

    def compose(self) -> ComposeResult:
        yield Static(self._where(), classes="pager")
        yield Static(Text(clean(self.text.page(0))), classes="page")

    def _where(self) -> Text:
        return Text(
            f"long text: {self.text.chars:,} characters, page {self.index + 1:,} of "
            f"{self.text.pages:,} (read from disk) · ] next page · [ previous"
        )

    def turn(self, direction: int) -> bool:
        """Show the next/previous page; False at either end."""
        index = self.index + direction
        if not 0 <= index < self.text.pages:
            return False
        self.index = index
        self.query_one(".pager", Static).update(self._where())
        self.query_one(".page", Static).update(Text(clean(self.text.page(index))))
        return True


def _group_key(frame: pl.DataFrame, row: dict[str, Any]) -> pl.Expr:
    if "_gid" in frame.columns and row.get("_gid") is not None:
        return pl.col("_gid") == row["_gid"]
    if row.get("group") is None:
        return pl.col("prompt") == row.get("prompt")
    return pl.col("group") == row["group"]


class GroupScreen(Screen):
    """All k completions of one prompt at one step side by side; ``a``: the prompt across steps."""

    BINDINGS = [
        Binding("escape", "back", "Back", id="group.back"),
        Binding("a", "across", "Across steps", id="group.across"),
    ]

    DEFAULT_CSS = """
    GroupScreen { layout: vertical; }
    GroupScreen #gtitle { height: auto; max-height: 4; background: $primary-background; padding: 0 1; }
    GroupScreen #columns { height: 1fr; }
    GroupScreen .member { width: 1fr; min-width: 30; height: 100%; border-right: vkey $panel;
        padding: 0 1; background: $surface; }
    GroupScreen .member-head { text-style: bold; color: $accent; }
    GroupScreen #across { height: 1fr; padding: 0 1; background: $surface; display: none; }
    GroupScreen.across #across { display: block; }
    GroupScreen.across #columns { display: none; }
    """

    def __init__(self, frame: pl.DataFrame, row: int, query: RolloutQuery | None = None) -> None:
        super().__init__()
        self.frame = frame
        self.search_query = query
        self.data = frame.row(row, named=True)
        match = _group_key(frame, self.data)
        same = frame.with_row_index("_r").filter(match)
        self.members = fill_heads(
            same.filter(pl.col("step") == self.data["step"]).sort(
                "reward", descending=True, nulls_last=True
            )
        )
        self.history = same

    def compose(self) -> ComposeResult:
        yield Static(self._head(), id="gtitle")
        with Horizontal(id="columns"):
            for i, member in enumerate(self.members.iter_rows(named=True), 1):
                with VerticalScroll(classes="member"):
                    reward = member.get("reward")
                    yield Static(
                        Text(
                            f"#{i}  reward {fmt_value(reward) if reward is not None else '—'}"
                            f"  length {member.get('length')}"
                        ),
                        classes="member-head",
                    )
                    yield Static(highlighted(member.get("completion") or "", self.search_query))
        yield VerticalScroll(Static(self._across_text(), id="across-text"), id="across")
        yield RltopFooter()

    def _across_text(self) -> Text:
        """Per step: rewards of this prompt's completions, mean length, the best answer's start."""
        hist = self.history
        if hist.is_empty():
            return Text("—")
        per_step = (
            hist.group_by("step")
            .agg(
                pl.col("reward").alias("rewards"),
                pl.col("reward").mean().alias("mean"),
                pl.col("length").mean().alias("length"),
                pl.col("_r").sort_by("reward", descending=True).first().alias("best"),
            )
            .sort("step")
        )
        best_rows = fill_heads(self.frame[per_step.get_column("best")])
        text = Text()
        text.append(f"{'step':>6}  {'mean':>6}  {'length':>7}  rewards\n", style="bold")
        for stat, best in zip(
            per_step.iter_rows(named=True), best_rows.iter_rows(named=True), strict=True
        ):
            rewards = " ".join(fmt_value(r) if r is not None else "—" for r in stat["rewards"])
            mean = fmt_value(stat["mean"]) if stat["mean"] is not None else "—"
            length = f"{stat['length']:.0f}" if stat["length"] is not None else "—"
            marker = "▶" if stat["step"] == self.data["step"] else " "
            text.append(f"{marker}{stat['step']:>5}  {mean:>6}  {length:>7}  {rewards}\n")
            answer = _shorten(best.get("completion") or "", 160)
            text.append("        best: ", style="dim")
            text.append_text(highlighted(answer, self.search_query, "dim"))
            text.append("\n")
        return text

    def _head(self) -> Text:
        """What is shown: the group at its step, or the prompt across every step it was asked."""
        prompt = load_text(self.data).get("prompt") or ""
        head = Text()
        if self.has_class("across"):
            steps = self.history.get_column("step").n_unique() if self.history.height else 0
            head.append(f"same prompt across {steps} steps (▶ step {self.data['step']})  ", "bold")
            head.append("a: back to the group · Esc: back\n", style="dim")
        else:
            head.append(
                f"group at step {self.data['step']}: {self.members.height} completions  ", "bold"
            )
            head.append("a: same prompt across steps · Esc: back\n", style="dim")
        head.append_text(highlighted(_shorten(prompt, 300), self.search_query, "dim"))
        return head

    def action_across(self) -> None:
        self.toggle_class("across")
        self.query_one("#gtitle", Static).update(self._head())

    def action_back(self) -> None:
        self.app.pop_screen()


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
