"""Rollout queries: parsing, filters, text, sort, paging, highlights, clear errors."""

from __future__ import annotations

import polars as pl
import pytest

from rltop.core.search import (
    QueryError,
    iter_matches,
    match_spans,
    page,
    parse_query,
    search,
    sortable_columns,
)


@pytest.fixture
def frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "step": [1, 2, 3, 40, 120],
            "prompt": ["What is 2+2?", "Hello world", "x", "refund please", None],
            "completion": ["<think>hm</think> 4", "bar", "The Answer is 42", "baz", "qux"],
            "reward": [0.1, 1.0, 0.5, None, 0.0],
            "group": ["a", "b", "c", "d", "e"],
            "length": [20, 3, 2500, 3, 3],
            "acc": [True, False, True, None, False],
            "scenario": ["refund_desk", "math", "math", "refund_desk", "math"],
        }
    )


def rows(frame, text, **kw):
    return search(frame, parse_query(text, dict(frame.schema)), **kw).to_list()


def test_filters(frame):
    assert rows(frame, "reward<0.2") == [4, 0]  # newest step first by default
    assert rows(frame, "reward>=1") == [1]
    assert rows(frame, "step=40") == [3]
    assert rows(frame, "step>100") == [4]
    assert rows(frame, "len>2000") == [2]
    assert rows(frame, "acc=true") == [2, 0]
    assert rows(frame, "acc=false step<100") == [1]
    assert rows(frame, "scenario=refund_desk") == [3, 0]
    assert rows(frame, "scenario!=refund_desk") == [4, 2, 1]
    assert rows(frame, "scenario~fund") == [3, 0]


def test_text_substring_smart_case_and_regex(frame):
    assert rows(frame, "answer") == [2]  # lower case: any case
    assert rows(frame, "Answer") == [2]
    assert rows(frame, "ANSWER") == []  # a capital letter: exact case
    assert rows(frame, "2+2") == [0]  # plain text, not a regex
    assert rows(frame, "/H[ea]llo/") == [1]
    assert rows(frame, "/h[ea]llo/") == []  # a regex keeps its case unless /.../i
    assert rows(frame, "/HELLO/i") == [1]
    assert rows(frame, "refund reward<1") == []  # AND: step 40 has no reward
    assert rows(frame, "refund") == [3]
    assert rows(frame, '"x=5"') == []


def test_sort(frame):
    assert rows(frame, "sort:reward") == [4, 0, 2, 1, 3]  # nulls last
    assert rows(frame, "sort:-reward") == [1, 2, 0, 4, 3]
    assert rows(frame, "sort:len") == [1, 3, 4, 0, 2]
    assert rows(frame, "", default_sort=("step", False)) == [0, 1, 2, 3, 4]
    assert "reward" in sortable_columns(frame) and "prompt" not in sortable_columns(frame)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rewrd<0.2", "unknown column 'rewrd'"),
        ("reward<abc", "reward is a number"),
        ("/(unclosed/", "bad regular expression"),
        ('"open quote', "unbalanced quotes"),
        ("acc=maybe", "true/false"),
        ("sort:nothing", "cannot sort by 'nothing'"),
        ("reward<", "has no value"),
    ],
)
def test_invalid_queries_say_why(frame, text, message):
    with pytest.raises(QueryError, match=message.replace("(", r"\(")):
        parse_query(text, dict(frame.schema)).filter_expr(dict(frame.schema))


def test_batches_come_in_sort_order_and_pages(frame):
    query = parse_query("a", dict(frame.schema))
    parts = [p.to_list() for p in iter_matches(frame, query, batch=2)]
    assert [r for p in parts for r in p] == [3, 2, 1, 0]  # newest step first
    found = search(frame, query)
    shown = page(frame, found, 1, 1)
    assert shown.get_column("_row").to_list() == [2]
    assert search(frame, query, limit=1).to_list() == [3]


def test_match_spans():
    q = parse_query("answer")
    assert match_spans("The Answer, answer", q) == [(4, 10), (12, 18)]
    assert match_spans("AbAb", parse_query("/b/i")) == [(1, 2), (3, 4)]
    assert match_spans("abc", parse_query("reward<1")) == []


@pytest.mark.parametrize("text", ["", "scenario=math", "sort:reward", "sort:-reward acc=true"])
def test_sort_order_is_stable_with_ties_and_nulls_last(text):
    """Rows with the same value keep the frame's order (newest step first by default, then by
    position), and nulls come last either way."""
    from rltop.core.search import ordered_positions

    steps = [3, 1, 3, None, 2, 3, 1, None, 2]
    rewards = [0.5, None, 0.5, 1.0, 0.5, None, 0.2, 0.2, 1.0]
    table = pl.DataFrame(
        {
            "step": steps,
            "reward": rewards,
            "acc": [True, False, True, True, False, True, True, False, True],
            "scenario": ["math", "x", "math", "math", "x", "math", "x", "math", "math"],
        }
    )
    query = parse_query(text, dict(table.schema))
    got = ordered_positions(table, query).to_list()
    cond = query.filter_expr(dict(table.schema))
    keep = table.with_row_index("_r").filter(True if cond is None else cond)
    column, desc = (query.sort, query.descending) if query.sort else ("step", True)

    def key(i: int):
        value = table[column][i]
        return (value is None, 0 if value is None else (-value if desc else value), i)

    assert got == sorted(keep["_r"].to_list(), key=key)


def test_columns_whose_names_are_no_identifiers_can_be_filtered():
    odd = pl.DataFrame(
        {
            "step": [1, 2, 3],
            "prompt": ["p", "q", "r"],
            "completion": ["a", "b", "c"],
            "^.*$": [0.1, 0.9, 0.5],
            "pass rate": [0.0, 1.0, 0.5],
            "1st": [3.0, 2.0, 1.0],
        }
    )
    assert rows(odd, "^.*$>0.4") == [2, 1]
    assert rows(odd, '"pass rate">=0.5') == [2, 1]
    assert rows(odd, "'pass rate'<0.5 step<5") == [0]
    assert rows(odd, "1st=2") == [1]
    assert rows(odd, '"pass rate>=0.5"') == []  # quoted whole: free text, found nowhere
    assert parse_query('"no such">1', dict(odd.schema)).phrase == "no such>1"  # not a column
