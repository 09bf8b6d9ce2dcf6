"""NeMo-RL per-step sample logs and SkyRL evaluation dumps, as rollouts.

- NeMo-RL writes ``<log_dir>/train_data_step{N}.jsonl`` (and ``val_data_step{N}.jsonl``) with
  ``Logger.log_batched_dict_as_jsonl``: one sample per line, ``content`` (the rendered
  conversation, prompt and response together), ``rewards``, ``input_lengths`` and per-token lists
  (``generation_logprobs``, ``prev_logprobs``, ``token_ids``, masks, ``advantages``). The per-token
  lists are dropped: they are large and not something to browse.
- SkyRL dumps evaluations to ``<export_path>/dumped_evals/global_step_N_evals/<source>.jsonl``:
  ``input_prompt``, ``output_response``, ``score``, ``stop_reason`` (plus ``env_class``,
  ``data_source``, ...). The generic rollout reader handles the keys; this module gives it the
  name and makes the step come from ``global_step_N``.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

from rltop.core.formats.base import Sniffed
from rltop.core.formats.rollouts import RolloutJsonlParser, normalize_rollout
from rltop.core.lazyre import lazy
from rltop.core.messages import content_text
from rltop.core.model import ParseResult, Skip

NEMO_NAME_RE = lazy(r"^(train|val)_data_step(\d+)\.jsonl$")
SKYRL_DIR_RE = lazy(r"^global_step_(\d+)_evals$")


class NemoRlDataParser(RolloutJsonlParser):
    """``train_data_step{N}.jsonl`` / ``val_data_step{N}.jsonl`` samples."""

    format: ClassVar[str] = "nemo-rl-samples"
    BULK_MIN_BYTES = 1 << 62  # per-token lists: the per-line path drops them

    def line_rows(
        self, obj: dict[str, Any], lineno: int, raw: bytes, result: ParseResult
    ) -> list[dict[str, Any]]:
        sample: dict[str, Any] = {}
        for key, value in obj.items():
            if key == "content":
                sample["completion"] = None if value is None else content_text(value)
            elif key == "rewards":
                sample["reward"] = value[0] if isinstance(value, list) and value else value
            elif isinstance(value, list):
                continue  # per-token lists
            else:
                sample[key] = value
        row = normalize_rollout(sample, self.default_step, self.split)
        if row["step"] is None:
            result.skips.append(Skip("sample without a step", lineno))
            return []
        return [row]


class SkyRlEvalParser(RolloutJsonlParser):
    format: ClassVar[str] = "skyrl-evals"


PARSERS = (NemoRlDataParser, SkyRlEvalParser)


def sniff(path: str, head: bytes) -> Sniffed | None:
    """NeMo-RL sample logs and SkyRL evaluation dumps, by name."""
    name = os.path.basename(path).lower()
    if NEMO_NAME_RE.match(name):
        return Sniffed(NemoRlDataParser, "NeMo-RL per-step samples")
    if name.endswith(".jsonl") and SKYRL_DIR_RE.match(os.path.basename(os.path.dirname(path))):
        return Sniffed(SkyRlEvalParser, "SkyRL evaluation dump")
    return None
