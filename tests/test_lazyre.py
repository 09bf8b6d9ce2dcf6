"""``lazy(pattern)``: the stand-in behaves as the compiled pattern, and compiles only when used."""

from __future__ import annotations

import copy
import re

from rltop.core.lazyre import lazy


def test_it_answers_as_the_compiled_pattern() -> None:
    for pattern, flags, text in (
        (r"step_(\d+)", 0, "a step_12 b step_3"),
        (r"(?P<k>[a-z]+)=(?P<v>\d+)", re.I, "A=1 bb=22"),
        (rb"\x1b\[[0-9;]*m", 0, b"\x1b[31mred\x1b[0m"),
    ):
        got, want = lazy(pattern, flags), re.compile(pattern, flags)
        assert got.findall(text) == want.findall(text)
        assert got.sub(type(text)(), text) == want.sub(type(text)(), text)
        assert bool(got.search(text)) == bool(want.search(text))
        assert got.fullmatch(text) == want.fullmatch(text)
        assert got.groups == want.groups and got.groupindex == want.groupindex
        assert got.pattern == pattern and got.flags == want.flags


def test_nothing_is_compiled_until_it_is_used() -> None:
    got = lazy(r"(unbalanced")  # a bad pattern fails where it is used, not at import
    assert "search" not in vars(got)
    try:
        got.search("x")
    except re.error:
        pass
    else:
        raise AssertionError("the bad pattern compiled")


def test_dunder_probes_do_not_compile() -> None:
    got = lazy(r"(unbalanced")
    assert copy.copy(got) is not None  # copy probes __reduce_ex__ etc.; it must not compile
    assert "lazy(" in repr(got)
