"""The digits: dataset files and where they are, the uint8 tensors, a visitor's own handwriting,
and drawings made the way MNIST's digits were made. Importing this package loads no torch."""
