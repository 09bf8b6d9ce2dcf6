"""``docs/rules.md``'s rule sections, written from the registry (``docs/make_rules.py``).

One source: a rule's title, severities, run kinds, what it means (``about``), when it fires and its
minimum points (``help``), its action and its threshold names all come from its ``@rule``. The
page's other sections are prose kept in the page itself, around the generated block.
"""

from __future__ import annotations

import textwrap

from rltop.core.diagnose.registry import RULES, Rule

BEGIN = (
    "<!-- rules: generated from the registry by docs/make_rules.py; edit the @rule, not this -->"
)
END = "<!-- end of the generated rules -->"

#: (heading, the modules whose rules it lists) in page order
FAMILIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Supervised runs (losses)", ("sft",)),
    ("Reinforcement: rewards", ("rl_rewards",)),
    ("Reinforcement: rollouts and their text", ("rl_rollouts",)),
    ("Reinforcement: the policy", ("rl_policy",)),
    ("Run health and pace", ("run",)),
)

_KIND = {"sft": "supervised", "rl": "RL", "any": "supervised and RL"}
_TIERED = {"sft.overfit_ratio": "info / warning / critical", "rl.token_growth": "info / warning"}


def _wrap(text: str, first: str = "", rest: str = "") -> str:
    return textwrap.fill(
        text, 100, initial_indent=first, subsequent_indent=rest, break_on_hyphens=False
    )


def rule_section(r: Rule) -> str:
    """One rule's section of the page (also the help shown on its warning-detail screen)."""
    severity = _TIERED.get(r.id, r.severity)
    lines = [f"### `{r.id}` — {r.title}", f"*{severity} · {_KIND.get(r.kind, r.kind)}*", ""]
    if r.about:
        lines += [_wrap(r.about), ""]
    lines.append(_wrap(f"**Fires when:** {r.help.replace('``', '`')}", "- ", "  "))
    lines.append(_wrap(f"**Action:** {r.action}.", "- ", "  "))
    names = [f"`{k}`" for k in r.defaults if k != "enabled"]
    config = f'**Config:** `[thresholds."{r.id}"]`' + (f" {', '.join(names)}" if names else "")
    lines.append(_wrap(config + "; `enabled`, `hold_points`, `clear_points`.", "- ", "  "))
    return "\n".join(lines)


def family_of(r: Rule) -> str:
    return r.check.__module__.rsplit(".", 1)[-1]


def generated_block() -> str:
    parts = [BEGIN, ""]
    for heading, modules in FAMILIES:
        rules = [r for r in RULES.values() if family_of(r) in modules]
        if not rules:
            continue
        parts += [f"## {heading}", ""]
        for r in rules:
            parts += [rule_section(r), ""]
    parts.append(END)
    return "\n".join(parts)


def render_page(page: str) -> str:
    """``page`` with its generated block replaced by the registry's current one."""
    if BEGIN not in page or END not in page:
        raise ValueError("docs/rules.md lacks the generated block's markers")
    head, rest = page.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    return head + generated_block() + tail
