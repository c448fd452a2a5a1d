"""What live internals cost: python -m benchmarks.health [--rounds 5].

The default preset's training loop (mnist_core.train.trainer.Trainer) on 12,800 digits, with the
health readings every 50 steps (mnist_core.train.health) and without, interleaved in one process.
Rates are training images per CPU-second of this process on one thread, from the first step to
the last batch event (the test-set evaluation left out). Target: within 5%.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from mnist_core.data.tensors import load_dataset
from mnist_core.train.config import preset_config
from mnist_core.train.trainer import Trainer

TARGET = 0.95


def rate(data, health: bool) -> float:
    trainer = Trainer(preset_config("default", train_subset=12800), data)
    if not health:
        trainer.health_every = 0
    start = end = None
    for event in trainer.events():
        if event["kind"] == "start":
            start = time.process_time()
        elif event["kind"] == "batch":
            end = time.process_time()
        elif event["kind"] == "epoch":
            break
    return 12800 / (end - start)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.health", description=__doc__)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args(argv)
    data = load_dataset("mnist")
    load = os.getloadavg()[0]
    torch.set_num_threads(1)
    rate(data, True)  # warm-up: the first optimizer step imports, the first convolutions plan
    on, off = [], []
    for _ in range(args.rounds):
        on.append(rate(data, True))
        off.append(rate(data, False))
    ratio = statistics.median(on) / statistics.median(off)
    print(f"images per CPU-second, median of {args.rounds}: with readings {statistics.median(on):,.0f}, "
          f"without {statistics.median(off):,.0f}; ratio {ratio:.3f} (target >= {TARGET}): "
          f"{'yes' if ratio >= TARGET else 'NO'}")
    print(f"load average before {load:.2f}, after {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
