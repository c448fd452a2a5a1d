"""Developer benchmarks, kept out of the runtime package: `python -m benchmarks [--quick] [--levers]`."""
