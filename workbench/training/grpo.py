"""GRPO with a verifiable reward: a sample's own task metric scores the answers, TRL's GRPOTrainer learns from them.

A lesson-sized run (no eval split, memory fit or resume) that shows what reinforcement learning with a checkable
reward does and what a step costs (lessons/05_take_it_home.ipynb). The reward reuses the sample's scoring
(:mod:`workbench.data.samples`), so "reward" means exactly what the evaluation counts; the model loads as training
loads it (:func:`workbench.models.load_model`, frozen base in the compute dtype) and the adapter is the workbench's
LoRA (:func:`workbench.training.plan.lora_config`). A GRPO run is a run like any other: its folder is claimed and
laid out as :mod:`workbench.workspace.runs` says (its config a TrainConfig with ``method: grpo``, its status,
metrics, adapter and model card), so the Runs tab, the Arena, evaluation and export read it as they read an SFT
run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from transformers import TrainerCallback
from trl import GRPOConfig, GRPOTrainer

from workbench.data import load_data, prompt_and_reference
from workbench.data.samples import ExampleScore, example_score
from workbench.hardware import Precision, choose_precision
from workbench.inference.generation import as_messages
from workbench.models import load_model
from workbench.training import data_input, lifecycle
from workbench.training.config import TrainConfig, check_against_model
from workbench.training.estimate import peak_memory_mb
from workbench.training.events import ProgressCallback
from workbench.training.model_card import write_model_card
from workbench.training.pipeline import final_metrics, hush_renamed_argument, save_weights
from workbench.training.plan import lora_config
from workbench.training.plots import save_loss_plot
from workbench.workspace.runs import ADAPTER_DIR, claim_run_dir, read_metrics, write_run_config, write_status


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


def prompt_dataset(records) -> Dataset:
    """Records of :func:`workbench.data.load_data` as GRPO prompts: ``prompt`` (the chat up to the answer) and
    ``reference`` (the answer the data gives)."""
    rows = []
    for record in records:
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
    overwrite: bool = False,
    **fields: Any,
) -> GRPORun:
    """Train a LoRA adapter on ``model`` with GRPO for ``steps`` steps; the reward is ``score`` on each answer.

    Each step samples ``num_generations`` answers to each of ``prompts_per_step`` prompts, scores them, and
    pushes up the answers that scored above their group's mean (TRL's defaults otherwise: ``beta`` 0, so no
    reference model, a linear schedule without warmup). ``fields`` are further TrainConfig fields
    (``num_generations``, ``max_completion_length``, ``learning_rate``, ``lora_r``, ``seed``); the learning
    rate defaults to one for an adapter (TRL's default 1e-6 is for every weight).

    Example:
        >>> run = train_grpo("runs/sft-lora-merged", "data_samples/sentiment_json.train.jsonl",
        ...                  SAMPLES["sentiment_json"].score, "runs/grpo-lora", steps=2)
        >>> [r["reward"] for r in run.log]
    """
    run_dir = Path(run_dir)
    settings = {"lr_scheduler": "linear", "warmup_ratio": 0.0} | fields  # TRL's GRPOConfig defaults
    config = TrainConfig.from_dict(
        settings
        | {
            "name": run_dir.name,
            "output_dir": str(run_dir.parent),
            "model": model,
            "data": str(data),
            "method": "grpo",
            "max_steps": steps,
            "batch_size": prompts_per_step,
            "eval_fraction": 0.0,  # no held-out split: evaluate_run measures the adapter afterwards
            "memory_budget_gb": 0.0,  # trained as configured: the memory estimate does not model generation
            "overwrite": overwrite,
        },
        source="train_grpo",
    )
    precision = choose_precision()
    config = config.resolved(precision)
    claim_run_dir(run_dir, config.overwrite)
    write_run_config(run_dir, config.to_yaml())
    try:
        return _train(config, run_dir, score, precision)
    except BaseException as exc:
        lifecycle.record_failure(run_dir, exc)
        raise


def _train(config: TrainConfig, run_dir: Path, score: ExampleScore, precision: Precision) -> GRPORun:
    """The run itself: data, model, TRL's GRPOTrainer, then the run folder's weights, plot, card and status."""
    bundle = load_data(config.data)
    data_input.check_fits(config.method, bundle.kind)
    torch.manual_seed(config.seed)
    lm = load_model(config.model, precision=precision, for_training=True, frozen_base=True)
    check_against_model(config, lm.model)
    answers: list[dict] = []
    step_seconds: list[float] = []

    class StepTimer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            self.start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            step_seconds.append(time.perf_counter() - self.start)

    with hush_renamed_argument():
        args = GRPOConfig(
            output_dir=str(run_dir / "checkpoints"),
            max_steps=config.max_steps,
            per_device_train_batch_size=config.batch_size * config.num_generations,  # answers per step
            gradient_accumulation_steps=config.gradient_accumulation,
            num_generations=config.num_generations,
            max_completion_length=config.max_completion_length,
            learning_rate=config.learning_rate,
            lr_scheduler_type=config.lr_scheduler,
            warmup_steps=config.warmup_ratio,  # a float in [0, 1) is a ratio of the total steps
            max_grad_norm=config.max_grad_norm,
            logging_steps=config.logging_steps,
            save_strategy="no",
            report_to="none",
            seed=config.seed,
            # The rules training uses (TrainConfig.resolved): precision from the hardware, no gradient
            # checkpointing on a CPU (TRL defaults it on), no TRL bf16 default where the CPU lacks bf16.
            bf16=config.precision == "bf16",
            fp16=config.precision == "fp16",
            use_cpu=precision.device == "cpu",
            gradient_checkpointing=config.gradient_checkpointing,
            disable_tqdm=False,
        )
        trainer = GRPOTrainer(
            model=lm.model,
            processing_class=lm.tokenizer,
            reward_funcs=task_reward(score, answers),
            args=args,
            train_dataset=prompt_dataset(bundle.dataset),
            peft_config=lora_config(config),
            callbacks=[StepTimer(), ProgressCallback(run_dir)],
        )
        trainer.train()
    steps = trainer.state.global_step
    save_weights(trainer, lm.tokenizer, run_dir, config)
    save_loss_plot(run_dir)
    trainable, total = trainer.model.get_nb_trainable_parameters()
    write_model_card(
        run_dir,
        config,
        {
            "model_source": lm.source,
            "data_kind": bundle.kind,
            "train_examples": len(bundle.dataset),
            "eval_examples": 0,
            "data_hash": data_input.fingerprint(bundle.dataset),
            "trainable_params": trainable,
            "total_params": total,
            "steps": steps,
            "final_metrics": final_metrics(read_metrics(run_dir)),
            "measured": {"seconds": round(sum(step_seconds), 1), "peak_memory_mb": peak_memory_mb(precision.device)},
            "device": precision.device,
        },
    )
    write_status(run_dir, "completed", step=steps)
    log = [entry for entry in trainer.state.log_history if "reward" in entry]
    return GRPORun(run_dir, log, step_seconds, answers)
