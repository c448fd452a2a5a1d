"""mnist_core: the engine of MNIST Studio (data, models, training, evaluation, runs, jobs).

It never imports streamlit, so the CLI, the tests and the pages all share it.
"""
__version__ = "0.1.0"
