"""The rules of ``DIAGNOSTICS.md`` by family; importing this package registers them all, in this
order (the order of ``RULES`` and of ``docs/rules.md``)."""

# isort: skip_file
from rltop.core.diagnose.rules import run  # noqa: F401
from rltop.core.diagnose.rules import sft  # noqa: F401
from rltop.core.diagnose.rules import rl_rewards  # noqa: F401
from rltop.core.diagnose.rules import rl_rollouts  # noqa: F401
from rltop.core.diagnose.rules import rl_policy  # noqa: F401
