"""Training: the frozen TrainConfig and its presets, and the one generator of metric events
(trainer) that the CLI, the job runner and the tests drive."""
