"""The format contract, over every registered format with a fixture (real ones from
../shared/fixtures where there is one, else a small file in the trainer's documented layout):

- the registry's ``sniff`` picks that format's parser for the file;
- reading it gives rows (or run config);
- every row that carries a location is made again from the bytes on disk by the format that made
  it (``Parser.reread``), equal to the parsed row, text included; formats whose rows hold text
  and map onto lines carry one;
- ``rltop sources`` lists the file as that format, with its ignored lines explained.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from rltop.commands.sources import collect, render
from rltop.core.coldtext import read_raw
from rltop.core.formats.registry import PARSERS, SNIFF_BYTES, parser_for, sniff
from rltop.core.formats.rollouts import rows_to_frame
from test_formats_trainers import _episode, _logtree, _summary, _trajectory

from conftest import FIXTURES, read_snapshot


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _copy(relative: str) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        source = FIXTURES / relative
        target = tmp / relative
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        return target

    return make


WANDB_RUN = "wandb/run-20241014_021059-7boci60w"


def _wandb_log(tmp: Path) -> Path:
    return _copy(WANDB_RUN)(tmp) / "run-7boci60w.wandb"


def _wandb_config(tmp: Path) -> Path:
    return _copy(WANDB_RUN)(tmp) / "files" / "config.yaml"


def _wandb_metadata(tmp: Path) -> Path:
    files = tmp / "wandb" / "run-20250101_120000-abc123" / "files"
    files.mkdir(parents=True)
    (files / "wandb-metadata.json").write_text(json.dumps({"startedAt": "2025-01-01T12:00:00"}))
    return files / "wandb-metadata.json"


def _wandb_table(tmp: Path) -> Path:
    source = Path(__file__).resolve().parent / "fixtures" / "wandb_tables" / "wandb"
    shutil.copytree(source, tmp / "wandb")
    return next((tmp / "wandb").rglob("completions_*.table.json"))


def _parquet(path: Path, frame: pl.DataFrame) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(path)
    return path


def _parquet_rollouts(tmp: Path) -> Path:
    frame = pl.DataFrame(
        {"step": [1, 1], "prompt": ["2+2?", "2+2?"], "completion": ["4", "5"], "reward": [1.0, 0]}
    )
    return _parquet(tmp / "run" / "samples.parquet", frame)


def _trl(tmp: Path) -> Path:
    frame = pl.DataFrame(
        {
            "step": [10, 10],
            "prompt": ["2+2?", "2+2?"],
            "completion": ["4", "5"],
            "accuracy_reward": [1.0, 0.0],
            "advantage": [0.7, -0.7],
        }
    )
    return _parquet(tmp / "out" / "completions" / "completions_00010.parquet", frame)


def _art_parquet(tmp: Path) -> Path:
    messages = [[{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]] * 2
    frame = pl.DataFrame({"reward": [1.0, 0.0], "messages": messages})
    return _parquet(tmp / "m" / "trajectories" / "train" / "0005.parquet", frame)


def _tinker_summaries(tmp: Path) -> Path:
    rows = [_summary(3, 0, 0, 1.0), _summary(3, 0, 1, 0.0)]
    return _jsonl(tmp / "run" / "iteration_000003" / "train_rollout_summaries.jsonl", rows)


def _tinker_logtree(tmp: Path) -> Path:
    path = tmp / "run" / "iteration_000003" / "train_logtree.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(_logtree([("6", 1.0), ("5", 0.0)])))
    return path


def _nemo(tmp: Path) -> Path:
    rows = [
        {
            "content": [f"<|user|>{a}+2?<|assistant|>{a + 2}"],
            "rewards": [1.0],
            "generation_logprobs": [-0.1],
            "input_lengths": 12,
        }
        for a in range(3)
    ]
    return _jsonl(tmp / "logs" / "train_data_step4.jsonl", rows)


def _skyrl(tmp: Path) -> Path:
    rows = [
        {"input_prompt": "2+2?", "output_response": r, "score": s, "stop_reason": "stop"}
        for r, s in (("4", 1.0), ("5", 0.0))
    ]
    return _jsonl(tmp / "export" / "dumped_evals" / "global_step_20_evals" / "gsm8k.jsonl", rows)


def _prime_metrics(tmp: Path) -> Path:
    rows = [{"step": s, "time": float(s), "train/agg/all/policy/reward/mean": 0.5} for s in (0, 1)]
    return _jsonl(tmp / "outputs" / "metrics.jsonl", rows)


def _prime_traces(tmp: Path) -> Path:
    rows = [_episode(1, 1.0, "42"), _episode(2, 0.0, "41")]
    return _jsonl(tmp / "outputs" / "rollouts" / "step_1" / "train" / "all" / "traces.jsonl", rows)


def _verifiers(tmp: Path) -> Path:
    rows = [_episode(0, 1.0, "42"), _episode(0, 0.0, "7")]
    return _jsonl(tmp / "outputs" / "evals" / "gsm8k" / "results.jsonl", rows)


def _art_history(tmp: Path) -> Path:
    rows = [{"step": 1, "train/reward": 0.5}, {"step": 2, "train/reward": 0.75}]
    return _jsonl(tmp / ".art" / "p" / "models" / "m" / "history.jsonl", rows)


def _art_trajectories(tmp: Path) -> Path:
    rows = [_trajectory(1.0, "It is sunny."), _trajectory(0.0, "No idea.")]
    return _jsonl(tmp / "models" / "m" / "trajectories" / "train" / "0002.jsonl", rows)


def _episode_doc(n: int) -> dict:
    return {
        "episode_id": f"ep{n}",
        "scenario": "support",
        "turns": [
            {"role": "user", "content": f"my order {n} is late"},
            {"role": "assistant", "content": "<think>check the order</think>It ships today."},
        ],
        "total_reward": 0.5 + n / 10,
        "terminal_reason": "resolved",
        "scores": {"empathy": 0.8},
    }


def _episode_log(tmp: Path) -> Path:
    path = tmp / "logs" / "episode_ep1.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(_episode_doc(1), indent=2))
    return path


def _episode_jsonl(tmp: Path) -> Path:
    return _jsonl(tmp / "logs" / "episodes.jsonl", [_episode_doc(n) for n in range(3)])


def _csv(tmp: Path) -> Path:
    path = tmp / "run" / "metrics.csv"
    path.parent.mkdir(parents=True)
    path.write_text("step,loss,lr\n1,0.9,1e-5\n2,0.8,1e-5\n")
    return path


def _jsonl_metrics(tmp: Path) -> Path:
    return _jsonl(tmp / "run" / "log.jsonl", [{"step": 1, "loss": 0.9}, {"step": 2, "loss": 0.8}])


def _openai_legacy(tmp: Path) -> Path:
    path = tmp / "ft-abc" / "results.csv"
    path.parent.mkdir(parents=True)
    path.write_text(
        "step,elapsed_tokens,elapsed_examples,training_loss,training_sequence_accuracy,"
        "training_token_accuracy\n1,2048,4,1.9,0.0,0.5\n2,4096,8,1.4,0.25,0.6\n"
    )
    return path


def _console(tmp: Path) -> Path:
    path = tmp / "run" / "train.log"
    path.parent.mkdir(parents=True)
    path.write_text(
        "INFO starting\n"
        + "".join(f"(TaskRunner pid=1) step:{s} - critic/score/mean:0.{s}\n" for s in (1, 2, 3))
    )
    return path


#: format id -> a file it reads
FIXTURE_OF: dict[str, Callable[[Path], Path]] = {
    "tensorboard": _copy("tensorboard/events.out.tfevents.1585769947.cvp"),
    "wandb": _wandb_log,
    "wandb-config": _wandb_config,
    "wandb-metadata": _wandb_metadata,
    "wandb-table": _wandb_table,
    "parquet-rollouts": _parquet_rollouts,
    "trl-completions": _trl,
    "art-trajectories-parquet": _art_parquet,
    "tinker-rollout-summaries": _tinker_summaries,
    "tinker-logtree": _tinker_logtree,
    "nemo-rl-samples": _nemo,
    "skyrl-evals": _skyrl,
    "prime-rl-metrics": _prime_metrics,
    "prime-rl-rollouts": _prime_traces,
    "verifiers-results": _verifiers,
    "art-history": _art_history,
    "art-trajectories": _art_trajectories,
    "episode-log": _episode_log,
    "episode-jsonl": _episode_jsonl,
    "hf-trainer-state": _copy("trl/trainer_state_grpo_chaos_economy.json"),
    "csv-metrics": _csv,
    "openai-results-csv": _copy("openai/historygpt_step_metrics.csv"),
    "openai-legacy-results-csv": _openai_legacy,
    "rollouts-jsonl": _copy("verl/rollout_dump_sdpo_step1_first3.jsonl"),
    "jsonl-metrics": _jsonl_metrics,
    "verl-filelogger": _copy("verl/filelogger_verl_examples_gsm8k.jsonl"),
    "tinker-metrics": _copy("tinker/metrics.jsonl"),
    "verl-console": _console,
}

#: rollout formats whose rows hold text and map one to one onto lines or documents: they carry a
#: location and read their rows back
REREAD = {
    "rollouts-jsonl",
    "art-trajectories",
    "nemo-rl-samples",
    "skyrl-evals",
    "prime-rl-rollouts",
    "verifiers-results",
    "episode-log",
    "episode-jsonl",
}

OPTIONAL = {
    "tensorboard": "tensorboard.compat.proto.event_pb2",
    "wandb": "wandb.proto.wandb_internal_pb2",
}


def test_every_registered_format_has_a_fixture():
    assert set(FIXTURE_OF) == set(PARSERS)


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b)
    return a == b


@pytest.mark.parametrize("format_id", sorted(FIXTURE_OF))
def test_format_contract(format_id: str, tmp_path: Path):
    if format_id in OPTIONAL:
        pytest.importorskip(OPTIONAL[format_id])
    path = FIXTURE_OF[format_id](tmp_path)
    with open(path, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
    found = sniff(str(path), head)
    assert found.parser is parser_for(format_id), found.reason

    snap = read_snapshot(tmp_path)
    (source,) = [s for s in snap.sources if s.path == str(path)]
    assert source.format == format_id
    (run,) = [r for r in snap.runs if r.run_id == source.run_id]
    if source.kind == "config":
        assert run.config
    else:
        assert source.rows > 0 and source.skipped == 0, source.skip_reasons

    frame = run.rollouts
    mine = frame.filter(pl.col("_format") == format_id) if "_format" in frame.columns else None
    if format_id in REREAD:
        assert mine is not None and mine.height == source.rows
        assert mine.get_column("_offset").null_count() == 0
        assert mine.get_column("completion").null_count() < mine.height  # text was parsed
        reader = parser_for(format_id)(str(path))
        for parsed in mine.iter_rows(named=True):
            raw = read_raw(parsed["_path"], parsed["_offset"], parsed["_len"])
            again = rows_to_frame([reader.reread(raw)]).row(0, named=True)
            for key, value in again.items():
                if key == "step" and format_id == "episode-jsonl":
                    continue  # the line's index: kept in memory, not in the bytes
                assert _same(parsed.get(key), value), (key, parsed.get(key), value)
    else:
        assert mine is None or mine.is_empty()

    report = collect([str(tmp_path)])
    (listed,) = [s for s in report["sources"] if s["path"] == str(path)]
    assert listed["format"] == format_id
    assert sum(listed["ignore_reasons"].values()) == listed["ignored"]
    text = render(report)
    assert f"{format_id} ({listed['kind']})" in text


def test_a_trajectory_group_line_keeps_its_rows_in_memory(tmp_path: Path):
    """Lines that make several rows carry no location (they could not be told apart on disk)."""
    path = _jsonl(
        tmp_path / "m" / "trajectories" / "train" / "0003.jsonl",
        [{"trajectories": [_trajectory(1.0, "a"), _trajectory(0.0, "b")]}],
    )
    (run,) = read_snapshot(tmp_path).runs
    assert run.rollouts.height == 2
    assert "_offset" not in run.rollouts.columns
    with pytest.raises(ValueError):
        parser_for("art-trajectories")(str(path)).reread(path.read_bytes().strip())
