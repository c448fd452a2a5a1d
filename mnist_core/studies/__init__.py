"""Many runs answering one question: sweeps, guided experiments and head to head."""
