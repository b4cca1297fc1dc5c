"""GRPO with a verifiable reward: a sample's own task metric scores the model's answers, TRL's GRPOTrainer learns from them.

Not one of ``TrainConfig``'s methods (no eval split, memory fit or resume): a lesson-sized run that shows what
reinforcement learning with a checkable reward does and what a step costs (lessons/05_take_it_home.ipynb). The
reward reuses the sample's scoring (:mod:`workbench.data.samples`), so "reward" means exactly what the evaluation
counts; the model loads as training loads it (:func:`workbench.models.load_model`, frozen base in the compute
dtype) and the adapter is the workbench's LoRA (:func:`workbench.training.plan.lora_config`). The adapter is saved
as ``RUN/adapter/``, so ``ModelBench``, ``evaluate_run`` and ``export`` read the run like any other.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from workbench.atomic import staged_dir
from workbench.data import load_data, prompt_and_reference
from workbench.data.samples import ExampleScore, example_score
from workbench.inference.generation import as_messages
from workbench.workspace.runs import ADAPTER_DIR


@dataclass
class GRPORun:
    """The run folder, TRL's log per step, each step's seconds, and every scored answer (prompt, answer, reward)."""

    run_dir: Path
    log: list[dict]
    step_seconds: list[float]
    answers: list[dict] = field(default_factory=list)

    @property
    def adapter_dir(self) -> Path:
        return self.run_dir / ADAPTER_DIR


def _text(completion) -> str:
    # Conversational prompts give each completion as a message list; plain prompts give a string.
    return completion[-1]["content"] if isinstance(completion, list) else completion


def task_reward(score: ExampleScore, answers: list[dict] | None = None):
    """A TRL reward function: each answer's mean task score against its record's ``reference`` answer.

    ``answers``, when given, collects every scored answer (prompt, answer, reward, the reward's parts).

    Example:
        >>> reward = task_reward(SAMPLES["sentiment_json"].score)
        >>> reward(['{"sentiment": "positive", "stars": 4}'], reference=['{"sentiment": "positive", "stars": 5}'])
        [0.6666666666666666]
    """

    def task_score(completions, reference, prompts=None, **_) -> list[float]:
        rewards = []
        for i, (completion, expected) in enumerate(zip(completions, reference)):
            text = _text(completion)
            parts = score(text, {"output": expected})
            rewards.append(example_score(parts))
            if answers is not None:
                prompt = prompts[i] if prompts else None
                answers.append(
                    {"prompt": _text(prompt) if prompt else "", "answer": text, "reward": rewards[-1], "parts": parts}
                )
        return rewards

    return task_score


def prompt_dataset(data: str | Path):
    """The records of a demonstration file as GRPO prompts: ``prompt`` (the chat up to the answer) and ``reference``."""
    from datasets import Dataset

    rows = []
    for record in load_data(data).dataset:
        prompt, reference = prompt_and_reference(record)
        rows.append({"prompt": as_messages(prompt), "reference": reference})
    return Dataset.from_list(rows)


def train_grpo(
    model: str,
    data: str | Path,
    score: ExampleScore,
    run_dir: str | Path,
    steps: int,
    prompts_per_step: int = 2,
    num_generations: int = 4,
    max_completion_length: int = 24,
    learning_rate: float = 5e-5,
    lora_r: int = 16,
    seed: int = 42,
    overwrite: bool = False,
) -> GRPORun:
    """Train a LoRA adapter on ``model`` with GRPO for ``steps`` steps; the reward is ``score`` on each answer.

    Each step samples ``num_generations`` answers to each of ``prompts_per_step`` prompts, scores them, and
    pushes up the answers that scored above their group's mean (TRL's defaults otherwise: ``beta`` 0, so no
    reference model). ``learning_rate`` is for an adapter (TRL's default 1e-6 is for every weight).

    Example:
        >>> run = train_grpo("runs/sft-lora-merged", "data_samples/sentiment_json.train.jsonl",
        ...                  SAMPLES["sentiment_json"].score, "runs/grpo-lora", steps=2)
        >>> [r["reward"] for r in run.log]
    """
    import torch
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from workbench.hardware import choose_precision
    from workbench.models import load_model
    from workbench.training.config import TrainConfig
    from workbench.training.pipeline import _hush_renamed_argument
    from workbench.training.plan import lora_config

    run_dir = Path(run_dir)
    if run_dir.exists() and any(run_dir.iterdir()) and not overwrite:
        from workbench.errors import WorkbenchError

        raise WorkbenchError(f"{run_dir} exists and is not empty: choose another folder or pass overwrite=True")
    precision = choose_precision()
    resolved = TrainConfig(lora_r=lora_r, seed=seed).resolved(precision)
    torch.manual_seed(seed)
    lm = load_model(model, precision=precision, for_training=True, frozen_base=True)
    answers: list[dict] = []
    step_seconds: list[float] = []

    class StepTimer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            self.start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            step_seconds.append(time.perf_counter() - self.start)

    with staged_dir(run_dir) as tmp, _hush_renamed_argument():
        args = GRPOConfig(
            output_dir=str(tmp / "checkpoints"),
            max_steps=steps,
            per_device_train_batch_size=prompts_per_step * num_generations,  # answers per step
            num_generations=num_generations,
            max_completion_length=max_completion_length,
            learning_rate=learning_rate,
            logging_steps=1,
            save_strategy="no",
            report_to="none",
            seed=seed,
            # The rules training uses (TrainConfig.resolved): precision from the hardware, no gradient
            # checkpointing on a CPU (TRL defaults it on), no TRL bf16 default where the CPU lacks bf16.
            bf16=resolved.precision == "bf16",
            fp16=resolved.precision == "fp16",
            use_cpu=precision.device == "cpu",
            gradient_checkpointing=resolved.gradient_checkpointing,
            disable_tqdm=False,
        )
        trainer = GRPOTrainer(
            model=lm.model,
            processing_class=lm.tokenizer,
            reward_funcs=task_reward(score, answers),
            args=args,
            train_dataset=prompt_dataset(data),
            peft_config=lora_config(resolved),
            callbacks=[StepTimer()],
        )
        trainer.train()
        trainer.save_model(str(tmp / ADAPTER_DIR))
        lm.tokenizer.save_pretrained(str(tmp / ADAPTER_DIR))
        log = [entry for entry in trainer.state.log_history if "reward" in entry]
    return GRPORun(run_dir, log, step_seconds, answers)
