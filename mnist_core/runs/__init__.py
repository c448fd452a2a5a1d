"""Run folders: what a training run leaves behind (config, metrics, checkpoint, summary), whose
it is, and the class board of published runs."""
