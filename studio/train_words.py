"""The Train form's words: one sentence of help for every setting, and the labels its fields
show (messages name a field by its label, never by its internal name)."""
from __future__ import annotations

from mnist_core.train.config import HANDWRITING_REPEAT

# One sentence for every setting (shown as the widget's help).
HELP = {
    "dataset": "The images to learn from: handwritten digits, or photos of clothes in the same format.",
    "model": "The network to train; each model's own options appear below it.",
    "optimizer": "How each step turns the gradient into a change of the weights: Adam adapts its step "
                 "per weight, SGD follows the gradient (with momentum).",
    "lr": "How big each step is. Too high and the loss explodes, too low and nothing is learned; "
          "1e-3 to 1e-2 suits Adam here.",
    "momentum": "For SGD and RMSprop: how much of the previous steps' direction carries over.",
    "weight_decay": "Pulls every weight towards zero a little at each step, against overfitting.",
    "label_smoothing": "Trains towards 90% (at 0.1) rather than 100% confidence in the right class: "
                       "usually a little more accurate and less overconfident.",
    "schedule": "How the learning rate changes over the run: onecycle warms up then anneals, step "
                "decays it, cosine restarts it.",
    "step_size": "For the step schedule: epochs between two decays.",
    "gamma": "For the step schedule: the factor the learning rate is multiplied by at each decay.",
    "warmup_epochs": "For cosine: epochs over which the rate rises linearly from 1% at the start.",
    "restart_epochs": "For cosine: the length of the first cycle in epochs; each later cycle is twice as long.",
    "epochs": "How many passes over the training images.",
    "batch_size": "Images per step: larger batches are faster per image but take fewer steps.",
    "train_subset": "0 uses the whole training set; fewer images train faster and learn less.",
    "seed": "Fixes the initial weights and the order of the images, so a run can be repeated exactly.",
    "device": "Where the run trains; auto picks the GPU when there is one.",
    "log_every": "How many batches between two points of the live curves.",
    "time_budget": "0 = no limit. Otherwise training stops after this many seconds (test evaluation "
                   "not counted) or at the last epoch, whichever comes first; one-cycle then follows the clock.",
    "distort": "Also slants each digit, bends it elastically and makes its strokes thicker or "
               "thinner, as digits drawn by other people with other pens differ from MNIST's. "
               "Slower to learn, but reads drawn digits better.",
    "augment": "Shows each digit slightly rotated, shifted and scaled, so the model copes with "
               "other people's handwriting.",
    "tta": "At the end, also reads the test set as the mean prediction over each digit and four "
           "copies moved one pixel: often a few fewer mistakes, at five times one evaluation. The "
           "curves stay plain; Evaluate can show either.",
    "handwriting": f"Train on MNIST plus the digits saved on the Draw page, each repeated "
                   f"{HANDWRITING_REPEAT} times so a few dozen of them count.",
}
LABELS = {"lr": "Learning rate", "optimizer": "Optimizer", "momentum": "Momentum",
          "label_smoothing": "Label smoothing", "schedule": "Learning-rate schedule", "dataset": "Dataset",
          "device": "Device", "augment": "Augment", "distort": "Distort", "tta": "Test-time augmentation",
          "handwriting": "My handwriting", "leave_out": "Images left out", "model": "Model",
          "step_size": "Step size (epochs)", "gamma": "Decay factor",
          "warmup_epochs": "Warm-up (epochs)", "restart_epochs": "First cycle (epochs)", "epochs": "Epochs",
          "batch_size": "Batch size", "train_subset": "Training images", "seed": "Seed",
          "log_every": "Log every", "time_budget": "Time budget (s)", "weight_decay": "Weight decay"}
