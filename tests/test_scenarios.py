"""Generated scenarios with seeded onsets (tests/scenarios.py): every rule fires on its scenario
within max(5 points, 5% of the run) of the true onset, at the right severity, and is still reported
at the end of the run; healthy runs get nothing at ``warning`` or above. Five noise seeds each."""

from __future__ import annotations

import pytest

from rltop.core.diagnose import RULES, diagnose
from scenarios import EXTRA_FAILING, FAILING, HEALTHY

from diaghelp import find

SEEDS = range(5)
CASES = [(name, name, make) for name, make in FAILING.items()]
CASES += [(name, rule_id, make) for name, (rule_id, make) in EXTRA_FAILING.items()]


def test_every_rule_has_a_scenario():
    assert set(FAILING) == set(RULES)


@pytest.mark.parametrize(("name", "rule_id", "make"), CASES, ids=[c[0] for c in CASES])
def test_rule_fires_on_time(name, rule_id, make):
    for seed in SEEDS:
        sc = make(seed)
        found = diagnose(sc.run, **(sc.kwargs or {}))
        w = find(found, rule_id)
        assert w is not None, (name, seed, [x.id for x in found])
        assert w.severity == sc.severity, (name, seed, w.severity, w.evidence)
        if sc.onset is None:
            assert w.step is None
            continue
        assert abs(w.step - sc.onset) <= sc.tolerance, (name, seed, w.step, sc.onset, w.evidence)


@pytest.mark.parametrize("name", list(HEALTHY))
def test_healthy_runs_raise_nothing_at_warning_or_above(name):
    for seed in SEEDS:
        found = diagnose(HEALTHY[name](seed))
        loud = [(w.id, w.severity, w.step, w.evidence) for w in found if w.rank >= 1]
        assert not loud, (name, seed, loud)
