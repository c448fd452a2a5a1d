"""Imported by the training workers' fork server only (mnist_core.jobs.runner preloads it there).

It reads MNIST once, so that every worker forked from that server starts with the digits in
memory, sharing their pages, instead of reading them itself at the start of every job (the
job-runner rows of `python -m benchmarks` measure a job's cost over the plain loop). Where the
files are not on disk yet (a fresh clone), nothing is loaded and each worker reads the files
itself. Other datasets are read by their workers. The images are mapped from a decoded copy on
disk (mnist_core.data.decoded), so a worker's own read is cheap; the preload still saves it.
"""
from mnist_core.data.tensors import preload

preload("mnist")
