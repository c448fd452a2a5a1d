"""How long a training run will take here, measured rather than guessed.

A few real optimisation steps of the configured model are timed on this machine and
extrapolated to every step of the run, plus the test-set evaluation that ends each epoch.
"""
from __future__ import annotations

import math
import statistics
import time

import torch

from mnist_core.analysis.evaluation import evaluate_tensors
from mnist_core.data.tensors import Dataset, load_dataset
from mnist_core.train.config import TrainConfig
from mnist_core.train.trainer import BUDGET_PROBES, Trainer

EVAL_SAMPLE = 2000
WARMUP_STEPS = 2  # the first steps pay for allocation and kernel selection


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def estimate_seconds(config: TrainConfig, data: Dataset | None = None, steps: int = 5,
                     data_dir=None) -> dict:
    """Measured seconds per step and per evaluation, and the extrapolated total for `config`.

    Returns {"seconds", "train_seconds", "eval_seconds", "evaluations", "step_seconds", "steps",
    "images_per_s"}. The weights used for timing are thrown away.
    """
    data = data if data is not None else load_dataset(config.dataset, data_dir)
    spec = data.spec
    n_train = len(data.train_images)
    if config.train_subset:
        n_train = min(n_train, config.train_subset)
    total_steps = math.ceil(n_train / config.batch_size) * config.epochs

    # The trainer's own model, optimiser and step: what is timed is exactly what will run.
    trainer = Trainer(config, data)
    model, device = trainer.model, trainer.device
    batch = min(config.batch_size, n_train)
    xb = data.train_images[:batch].to(device)
    yb = data.train_labels[:batch].to(device)

    model.train()
    for _ in range(WARMUP_STEPS):
        trainer.step(xb, yb)
    times = []
    for _ in range(max(1, steps)):
        _sync(device)
        start = time.perf_counter()
        trainer.step(xb, yb)
        _sync(device)
        times.append(time.perf_counter() - start)
    # The median shrugs off a step slowed by another process on a shared machine.
    step_seconds = statistics.median(times)

    sample = data.test_images[:EVAL_SAMPLE].to(device)
    labels = data.test_labels[:EVAL_SAMPLE].to(device)
    evaluate_tensors(model, sample[:200], labels[:200], spec)
    _sync(device)
    start = time.perf_counter()
    evaluate_tensors(model, sample, labels, spec)
    _sync(device)
    eval_seconds = (time.perf_counter() - start) * len(data.test_images) / max(1, len(sample))

    train_seconds = step_seconds * total_steps
    epochs = config.epochs
    if config.time_budget and train_seconds > config.time_budget:
        # The clock ends the run: the steps that fit, and an evaluation per epoch begun.
        total_steps = max(1, int(config.time_budget / max(step_seconds, 1e-9)))
        train_seconds = config.time_budget
        epochs = math.ceil(total_steps / math.ceil(n_train / config.batch_size))
    evaluations = epochs
    if config.time_budget:  # plus the test checks at each tenth of the budget that it reaches
        evaluations += min(BUDGET_PROBES - 1, int(train_seconds / (config.time_budget / BUDGET_PROBES)))
    total_eval = eval_seconds * evaluations
    return {"seconds": train_seconds + total_eval, "train_seconds": train_seconds,
            "eval_seconds": total_eval, "evaluations": evaluations, "step_seconds": step_seconds,
            "steps": total_steps,
            "images_per_s": batch / max(step_seconds, 1e-9)}
