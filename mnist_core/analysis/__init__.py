"""What a trained model does: evaluation, calibration, explanations, robustness, ablation,
adversarial digits, the one-digit guard and the label audit."""
