import pytest
import torch

from mnist_core.analysis.evaluation import cell_indices, confusion_matrix, misclassified, per_class_metrics


def test_confusion_matrix_and_metrics_by_hand():
    # 3 classes. true: 0 0 0 1 1 2 ; pred: 0 0 1 1 2 2
    labels = torch.tensor([0, 0, 0, 1, 1, 2])
    preds = torch.tensor([0, 0, 1, 1, 2, 2])
    cm = confusion_matrix(labels, preds, 3)
    assert cm.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    m = per_class_metrics(cm, ["a", "b", "c"])
    rows = {r["class"]: r for r in m["per_class"]}
    # class a: tp 2, predicted 2, support 3 -> P 1, R 2/3, F1 0.8
    assert rows["a"]["precision"] == pytest.approx(1.0)
    assert rows["a"]["recall"] == pytest.approx(2 / 3)
    assert rows["a"]["f1"] == pytest.approx(0.8)
    # class b: tp 1, predicted 2, support 2 -> P 0.5, R 0.5, F1 0.5
    assert (rows["b"]["precision"], rows["b"]["recall"], rows["b"]["f1"]) == pytest.approx((0.5, 0.5, 0.5))
    # class c: tp 1, predicted 2, support 1 -> P 0.5, R 1, F1 2/3
    assert (rows["c"]["precision"], rows["c"]["recall"], rows["c"]["f1"]) == pytest.approx((0.5, 1.0, 2 / 3))
    assert [r["support"] for r in m["per_class"]] == [3, 2, 1]
    assert m["macro"]["precision"] == pytest.approx((1 + 0.5 + 0.5) / 3)
    assert m["macro"]["f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert m["weighted"]["recall"] == pytest.approx((3 * 2 / 3 + 2 * 0.5 + 1 * 1) / 6)
    assert m["weighted"]["f1"] == pytest.approx((3 * 0.8 + 2 * 0.5 + 1 * 2 / 3) / 6)
    assert m["accuracy"] == pytest.approx(4 / 6)


def test_class_never_predicted_has_zero_precision_not_nan():
    cm = confusion_matrix(torch.tensor([0, 1]), torch.tensor([0, 0]), 2)
    m = per_class_metrics(cm)
    assert m["per_class"][1] == {"class": "1", "precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}


def test_misclassified_sorted_by_confidence():
    labels = torch.tensor([0, 1, 2, 0])
    probs = torch.tensor([[0.9, 0.1, 0.0],   # right
                          [0.6, 0.4, 0.0],   # wrong, conf 0.6
                          [0.05, 0.9, 0.05],  # wrong, conf 0.9
                          [0.2, 0.0, 0.8]])  # wrong, conf 0.8
    assert misclassified(labels, probs).tolist() == [2, 3, 1]
    assert misclassified(labels, probs, true_class=0).tolist() == [3]
    assert cell_indices(labels, probs, 0, 0).tolist() == [0]
    assert cell_indices(labels, probs, 2, 1).tolist() == [2]
