"""Speed levers, measured rather than assumed: python -m benchmarks --levers.

Each lever is timed against the project's choice in the same process, with the variants
interleaved over several rounds and the median kept, so a noisy neighbour hurts both sides.
Rates are images per CPU-second of this process on one thread (time.process_time), which a
shared machine's other load disturbs far less than wall time; the thread count is compared on
the wall clock, and batch-1 prediction in predictions per second.
"""
from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from mnist_core.data.tensors import Dataset, iterate_batches, normalise
from mnist_core.models.registry import build_model
from mnist_core.runs.checkpoints import load_model
from mnist_core.train.config import preset_config


def _train_rate(model: nn.Module, batches, channels_last: bool, seconds: float) -> float:
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    n, start, it = 0, time.process_time(), iter(batches())
    while time.process_time() - start < seconds:
        try:
            x, y = next(it)
        except StopIteration:
            it = iter(batches())
            continue
        loss = F.cross_entropy(model(x.contiguous(memory_format=fmt)), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        n += len(y)
    return n / (time.process_time() - start)


def _interleave(variants: dict, rounds: int = 3) -> dict:
    rates = {k: [] for k in variants}
    for _ in range(rounds):
        for name, fn in variants.items():
            rates[name].append(fn())
    return {k: statistics.median(v) for k, v in rates.items()}


def measure_levers(data: Dataset, seconds: float = 1.5) -> list[dict]:
    threads = torch.get_num_threads()
    # CPU-time rates on one thread: with more, OpenMP's spin-waiting counts as CPU time and a
    # busy neighbour inflates it. The thread lever itself is measured on the wall clock.
    torch.set_num_threads(1)
    try:
        return _measure(data, seconds, threads)
    finally:
        torch.set_num_threads(threads)


def _measure(data: Dataset, seconds: float, threads_before: int) -> list[dict]:
    spec = data.spec
    images, labels = data.train_images[:20000], data.train_labels[:20000]
    g = torch.Generator().manual_seed(0)
    kwargs = preset_config("default").model_kwargs
    pre_normalised = normalise(images, spec)  # float32 copy: 4x the memory of uint8

    def uint8_batches():
        for xb, yb in iterate_batches(images, labels, 128, g):
            yield normalise(xb, spec), yb

    def float_batches():
        yield from iterate_batches(pre_normalised, labels, 128, g)

    def model(order="pool-first"):
        torch.manual_seed(0)
        m = build_model("cnn", **kwargs)
        if order == "pool-last":  # the textbook conv-BN-ReLU-pool order, for comparison
            layers = list(m)
            out, i = [], 0
            while i < len(layers):
                if isinstance(layers[i], nn.Conv2d) and isinstance(layers[i + 1], nn.MaxPool2d):
                    out += [layers[i], layers[i + 2], layers[i + 3], layers[i + 1]]
                    i += 4
                else:
                    out.append(layers[i])
                    i += 1
            m = nn.Sequential(*out)
        return m

    rows = []

    def add(lever, chosen, rates):
        base = rates[chosen]
        for name, rate in rates.items():
            rows.append({"lever": lever, "variant": name, "chosen": name == chosen,
                         "rate": rate, "ratio": rate / base})

    add("input pipeline", "uint8 slices, normalised per batch", _interleave({
        "uint8 slices, normalised per batch": lambda: _train_rate(model(), uint8_batches, True, seconds),
        "pre-normalised float32 tensor": lambda: _train_rate(model(), float_batches, True, seconds)}))
    add("memory format", "channels_last", _interleave({
        "channels_last": lambda: _train_rate(model(), uint8_batches, True, seconds),
        "contiguous (NCHW)": lambda: _train_rate(model(), uint8_batches, False, seconds)}))
    add("block order", "conv-pool-BN-ReLU", _interleave({
        "conv-pool-BN-ReLU": lambda: _train_rate(model(), uint8_batches, True, seconds),
        "conv-BN-ReLU-pool": lambda: _train_rate(model("pool-last"), uint8_batches, True, seconds)}))

    def batch_rate(bs):
        def batches():
            for xb, yb in iterate_batches(images, labels, bs, g):
                yield normalise(xb, spec), yb
        return lambda: _train_rate(model(), batches, True, seconds)

    add("batch size", "128", _interleave({str(bs): batch_rate(bs) for bs in (64, 128, 256, 512)}))

    wall = {}
    for n in sorted({1, threads_before}):
        torch.set_num_threads(n)
        start = time.perf_counter()
        done = 0
        for xb, yb in uint8_batches():
            m = wall.setdefault(("m", n), model().to(memory_format=torch.channels_last))
            opt = wall.setdefault(("o", n), torch.optim.Adam(m.parameters(), 1e-3))
            loss = F.cross_entropy(m(xb.contiguous(memory_format=torch.channels_last)), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            done += len(yb)
            if done >= 6400:
                break
        wall[n] = done / (time.perf_counter() - start)
    torch.set_num_threads(1)
    add("threads (wall-clock rate)", str(threads_before), {str(n): wall[n] for n in sorted({1, threads_before})})

    rows += _compile_lever(model, uint8_batches, seconds)
    rows += _inference_lever(data)
    return rows


def _compile_lever(model, batches, seconds) -> list[dict]:
    try:
        eager = _train_rate(model(), batches, True, seconds)
        compiled_model = torch.compile(model())
        start = time.perf_counter()
        _train_rate(compiled_model, batches, True, 0.01)  # the first call compiles
        compile_s = time.perf_counter() - start
        compiled = _train_rate(compiled_model, batches, True, seconds)
    except Exception as exc:  # no C++ compiler, or an inductor limitation
        return [{"lever": "torch.compile", "variant": f"unavailable: {type(exc).__name__}",
                 "chosen": False, "rate": 0.0, "ratio": 0.0}]
    # Seconds of training saved per epoch versus the one-off compile cost.
    saved = 60000 / eager - 60000 / compiled
    return [{"lever": "torch.compile", "variant": "eager", "chosen": True, "rate": eager, "ratio": 1.0},
            {"lever": "torch.compile", "variant": f"compiled (compile {compile_s:.0f} s, saves {saved:.1f} s/epoch)",
             "chosen": False, "rate": compiled, "ratio": compiled / eager}]


def _inference_lever(data: Dataset, n: int = 500) -> list[dict]:
    m, _ = load_model()
    x = normalise(data.test_images[:1], data.spec)

    def run(ctx):
        with ctx():
            for _ in range(20):
                m(x)
            start = time.perf_counter()
            for _ in range(n):
                m(x)
        return n / (time.perf_counter() - start)

    rates = _interleave({"inference_mode": lambda: run(torch.inference_mode),
                         "no_grad": lambda: run(torch.no_grad),
                         "autograd on": lambda: run(torch.enable_grad)})
    return [{"lever": "batch-1 prediction", "variant": k, "chosen": k == "inference_mode", "rate": v,
             "ratio": v / rates["inference_mode"]} for k, v in rates.items()]


def levers_table(rows: list[dict]) -> str:
    lines = ["| lever | variant | rate | vs chosen |", "|---|---|---|---|"]
    for r in rows:
        mark = " (kept)" if r["chosen"] else ""
        lines.append(f"| {r['lever']} | {r['variant']}{mark} | {r['rate']:,.0f} | {r['ratio']:.2f}x |")
    return "\n".join(lines)
