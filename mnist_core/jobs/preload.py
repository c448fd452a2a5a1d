"""Imported by the training workers' fork server only (mnist_core.jobs.runner preloads it there).

It reads MNIST once, so that every worker forked from that server starts with the digits in
memory, sharing their pages, instead of decoding 47 MB of gzip itself: that took 0.30 s a job
here, most of what a job cost over the plain loop on 20,000 images (docs/benchmarks.md,
2026-12-03). Where the files are not on disk yet (a fresh clone), nothing is loaded and each
worker reads the files itself, as before. Other datasets are read by their workers. Since the
images are mapped from a decoded copy on disk (mnist_core.data.decoded), a worker reading them itself
would take about 20 ms rather than 0.30 s (16 ms measured, with the labels); the preload still saves that.
"""
from mnist_core.data.tensors import preload

preload("mnist")
