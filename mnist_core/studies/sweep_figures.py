"""A study's figures: Optuna's own plotly charts, read as test accuracy in per cent."""
from __future__ import annotations


def figures(study) -> dict:
    """Optuna's own plotly figures, those the study has enough finished trials for."""
    import optuna
    from optuna import visualization as vis

    done = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    out = {}
    if not done:
        return out
    # The objective is a test accuracy: named so and read in per cent where Optuna's axes allow
    # ("Objective Value" 0.782 beside a table's 78.19% puzzled a new user).
    name = "Test accuracy"
    out["history"] = vis.plot_optimization_history(study, target_name=name)
    varied = {k for t in done for k in t.params if len({str(u.params.get(k)) for u in done}) > 1}
    if len(done) >= 2 and varied:
        out["parallel"] = vis.plot_parallel_coordinate(study, target_name=name)
        out["slice"] = vis.plot_slice(study, target_name=name)
        out["slice"].update_yaxes(tickformat=".1%")
        if len(done) >= 3:
            try:
                # PED-ANOVA: numpy only, and quick; the default (fANOVA) is many times slower
                # and loads scikit-learn and SciPy into the server (docs/benchmarks.md, "Sweeps").
                out["importance"] = vis.plot_param_importances(
                    study, evaluator=optuna.importance.PedAnovaImportanceEvaluator())
            except (RuntimeError, ValueError, ZeroDivisionError):
                pass  # every finished trial scored the same: nothing to apportion
    out["history"].update_yaxes(tickformat=".1%")
    return out
