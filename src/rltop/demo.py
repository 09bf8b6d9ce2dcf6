"""A simulated GRPO run that writes what verl writes, step by step, for ``rltop demo``.

Files (in a fresh temporary folder, never in the user's logs):
- ``demo-grpo/gsm8k_grpo.jsonl``: verl FileLogger lines ``{"step": N, "data": {...}}``
- ``demo-grpo/rollouts/<step>.jsonl``: verl ``rollout_data_dir`` dumps (input, output, gts, score, step, acc)

The run learns (pass@k rises first, mean reward follows), and from about step 60 the responses
start to grow much longer than the task needs, so the token-growth warning has something to say.
From step ``degenerate_at`` (220) it turns degenerate: in some prompt groups every completion loops
until the length limit, in one the text is garbled, in the others the samples of a prompt are
identical, and steps take 2.5× longer, so the rollout-text and pace rules have something to say.
"""

from __future__ import annotations

import json
import math
import random
import threading
import zlib
from pathlib import Path

SYSTEM = (
    "system\nYou are a helpful math assistant. Think step by step, then give the answer after ####."
)

NAMES = ["Ava", "Ben", "Chen", "Dara", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lena"]
ITEMS = ["apples", "marbles", "stickers", "books", "coins", "shells", "pencils", "cookies"]


def make_problem(rng: random.Random) -> tuple[str, int]:
    name = rng.choice(NAMES)
    item = rng.choice(ITEMS)
    a, b, c = rng.randint(3, 40), rng.randint(2, 9), rng.randint(1, 20)
    question = (
        f"{name} has {a} {item}. {name} buys {b} packs with {c} {item} in each pack, "
        f"then gives away {c} {item}. How many {item} does {name} have now?"
    )
    return question, a + b * c - c


def make_answer(
    rng: random.Random, question: str, truth: int, correct: bool, verbosity: float
) -> str:
    nums = [int(t.strip(".,?")) for t in question.split() if t.strip(".,?").isdigit()]
    a, b, c = ([*nums, 0, 0, 0])[:3]
    steps = [
        f"Start with {a}.",
        f"The packs add {b} * {c} = {b * c}.",
        f"Giving away {c} leaves {a} + {b * c} - {c}.",
    ]
    filler = [
        "Let me double-check each quantity carefully before continuing.",
        "Re-reading the question to make sure nothing was missed.",
        "Verifying the multiplication once more to be safe.",
        "It is important to keep track of every item in the story.",
    ]
    extra = int(verbosity * 6)
    think = " ".join(steps + [rng.choice(filler) for _ in range(extra)])
    answer = truth if correct else truth + rng.choice([-c, c, b, -b, 1, -1])
    return f"<think>{think}</think>\nThe answer is {answer}.\n#### {answer}"


def degenerate_answer(
    rng: random.Random, question: str, truth: int, correct: bool, group: int, step: int
) -> tuple[str, bool]:
    """A degenerate completion: groups 0–1 loop until the length limit, group 2 is garbled text,
    the others give one answer for every sample (the caller repeats it). Returns (text, correct)."""
    if group < 2:
        loop = "Wait, let me re-check the packs and the items given away once more. "
        return "<think>" + loop * rng.randint(55, 60), False
    if group == 2:
        noise = "".join(rng.choice("\ufffd#@%&*~^|") for _ in range(30))
        return f"<think>The packs add Не знаю {noise} ответ ответ ответ</think>\n####", False
    return make_answer(rng, question, truth, correct, 0.3), correct


class DemoRun:
    """Writes one simulated training step per ``interval`` seconds until stopped."""

    def __init__(
        self,
        root: Path,
        *,
        steps: int = 400,
        interval: float = 1.0,
        seed: int = 7,
        prompts_per_step: int = 8,
        group_size: int = 4,
        degenerate_at: int = 220,
    ) -> None:
        self.root = Path(root)
        self.run_dir = self.root / "demo-grpo"
        self.rollout_dir = self.run_dir / "rollouts"
        self.metrics_path = self.run_dir / "gsm8k_grpo.jsonl"
        self.steps = steps
        self.interval = interval
        self.rng = random.Random(seed)
        self.prompts_per_step = prompts_per_step
        self.group_size = group_size
        self.degenerate_at = degenerate_at
        self.step = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.pool = [make_problem(self.rng) for _ in range(64)]

    # -- simulation ----------------------------------------------------------------------------
    def skill(self, step: int) -> float:
        """Probability of a correct answer: a learning curve with noise."""
        return 0.12 + 0.7 / (1 + math.exp(-(step - 45) / 14))

    def verbosity(self, step: int) -> float:
        return 0.3 + (0 if step < 60 else (step - 60) / 25)

    def degenerate(self, step: int) -> bool:
        return step >= self.degenerate_at

    def write_step(self, step: int) -> None:
        rng = self.rng
        skill, verbosity = self.skill(step), self.verbosity(step)
        rows, rewards, lengths, groups_solved = [], [], [], 0
        degenerate = self.degenerate(step)
        for p in range(self.prompts_per_step):
            question, truth = self.pool[(step * self.prompts_per_step + p) % len(self.pool)]
            # prompt difficulty: some prompts are solved much more often than others
            ease = 0.6 + 0.8 * ((zlib.crc32(question.encode()) % 100) / 100)
            solved = False
            same = None  # a degenerate group's one answer, said by every sample
            for _ in range(self.group_size):
                correct = rng.random() < min(0.98, skill * ease)
                if degenerate:
                    text, correct = degenerate_answer(rng, question, truth, correct, p, step)
                    if p >= 3:  # identical samples: the group's first answer, every time
                        same = same or (text, correct)
                        text, correct = same
                else:
                    text = make_answer(rng, question, truth, correct, verbosity)
                score = 1.0 if correct else 0.0
                solved |= correct
                rewards.append(score)
                lengths.append(len(text) // 4)
                rows.append(
                    {
                        "input": f"{SYSTEM}\nuser\n{question}\nassistant\n",
                        "output": text,
                        "gts": str(truth),
                        "score": score,
                        "step": step,
                        "acc": correct,
                    }
                )
            groups_solved += solved
        self.rollout_dir.mkdir(parents=True, exist_ok=True)
        with open(self.rollout_dir / f"{step}.jsonl", "w") as fh:
            for row in rows:
                fh.write(json.dumps(row) + "\n")
        mean_reward = sum(rewards) / len(rewards)
        mean_len = sum(lengths) / len(lengths)
        max_len = 1024
        data = {
            "critic/score/mean": mean_reward,
            "critic/score/max": max(rewards),
            "critic/score/min": min(rewards),
            "critic/rewards/mean": mean_reward,
            "critic/advantages/mean": 0.0,
            "critic/advantages/max": 1.5 + rng.random() * 0.3,
            "response_length/mean": mean_len,
            "response_length/max": max(lengths),
            "response_length/clip_ratio": sum(1 for n in lengths if n >= max_len) / len(lengths),
            "prompt_length/mean": 62 + rng.random() * 4,
            "actor/entropy": 0.9 * math.exp(-step / 180) + 0.08 + rng.random() * 0.02,
            "actor/pg_loss": rng.gauss(0, 0.02),
            "actor/ppo_kl": 0.0005 * step / 50 + abs(rng.gauss(0, 0.0003)),
            "actor/kl_loss": 0.001 * step / 40 + abs(rng.gauss(0, 0.0005)),
            "actor/grad_norm": 0.4 + rng.random() * 0.3,
            "actor/lr": 1e-6,
            "timing_s/gen": 8 + mean_len / 60 + rng.random(),
            "timing_s/update_actor": 5 + rng.random(),
            "timing_s/step": (15 + mean_len / 50 + rng.random() * 2) * (2.5 if degenerate else 1),
            "perf/throughput": 2400 + rng.random() * 200,
            "perf/max_memory_allocated_gb": 38.5 + rng.random(),
        }
        if step % 5 == 0:
            data["val-core/openai/gsm8k/acc/mean@1"] = min(
                1.0, max(0.0, skill * 0.95 + rng.gauss(0, 0.02))
            )
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with open(self.metrics_path, "a") as fh:
            fh.write(json.dumps({"step": step, "data": data}) + "\n")
            fh.flush()

    # -- driving -------------------------------------------------------------------------------
    def prefill(self, steps: int) -> None:
        """Write the first ``steps`` steps at once, so the dashboard opens on a curve."""
        for _ in range(steps):
            self.step += 1
            self.write_step(self.step)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="rltop-demo", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while self.step < self.steps and not self._stop.wait(self.interval):
            self.step += 1
            self.write_step(self.step)

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=2)
