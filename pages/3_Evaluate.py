import pandas as pd
import streamlit as st

import studio_charts as charts
import studio_handwriting
import studio_ui
from mnist_core.calibration import calibrate_model, coverage_curve
from mnist_core.evaluation import cell_indices, evaluate_split

CACHE = "eval_cache"

CACHE_SIZE = 4  # each entry holds an N x 10 probability table


def select_cell() -> None:
    points = st.session_state["eval_cm"]["selection"].get("points") or []
    if points:
        st.session_state["eval_true"] = int(points[0]["y"])
        st.session_state["eval_pred"] = int(points[0]["x"])


with studio_ui.page("Evaluate", ":material/fact_check:"):
    st.title("Evaluate")
    top = st.columns([3, 1])
    with top[0]:
        choice = studio_ui.model_picker("eval_model")
    split = top[1].radio("Split", ["test", "train"], horizontal=True, key="eval_split")
    model_and_config = None
    with studio_ui.shown_errors():
        model_and_config = studio_ui.load_choice(choice)
    if model_and_config is None:
        st.stop()
    model, config = model_and_config
    data = studio_ui.dataset_or_help(config.dataset)
    if data is None:
        st.stop()
    cache = st.session_state.setdefault(CACHE, {})
    cache_key = (choice, studio_ui.choice_stamp(choice), split, data.source)
    if cache_key not in cache:
        with st.spinner(f"Classifying the {split} split..."):
            images, labels = data.split(split)
            result = evaluate_split(model, images, labels, data.spec)
        while len(cache) >= CACHE_SIZE:
            cache.pop(next(iter(cache)))
        cache[cache_key] = result
    res = cache[cache_key]
    images = data.split(split)[0]
    classes = list(data.classes)
    cm = res["confusion"].numpy()
    m = st.columns(4)
    m[0].metric("Accuracy", f"{res['accuracy']:.2%}")
    m[1].metric("Loss", f"{res['loss']:.4f}")
    m[2].metric("Errors", f"{len(res['errors']):,}")
    m[3].metric("Images", f"{len(res['labels']):,}")
    with studio_ui.shown_errors():
        studio_handwriting.evaluate_block(model, data.spec, res["accuracy"] if split == "test" else None)
    st.subheader("Confusion matrix")
    off = cm.copy()
    off[range(len(cm)), range(len(cm))] = -1
    worst = divmod(int(off.argmax()), len(cm))
    st.session_state.setdefault("eval_true", worst[0])
    st.session_state.setdefault("eval_pred", worst[1])
    left, right = st.columns([3, 2])
    with left:
        normalise = (
            st.radio("Show", ["Counts", "Row-normalised"], horizontal=True, key="eval_norm")
            == "Row-normalised"
        )
        st.plotly_chart(
            charts.confusion(cm, classes, normalise),
            key="eval_cm",
            on_select=select_cell,
            selection_mode="points",
            # Zoom and pan are off for this chart; the toolbar would only cover the axis title.
            config={"displayModeBar": False},
        )
        st.caption("Rows are the true classes, columns the predictions. Click a cell to see its images.")
    with right:
        s = st.columns(2)
        fmt = lambda i: f"{i}: {classes[i]}" if classes[i] != str(i) else str(i)  # noqa: E731
        true_class = s[0].selectbox("True class", range(len(classes)), key="eval_true", format_func=fmt)
        pred_class = s[1].selectbox("Predicted class", range(len(classes)), key="eval_pred", format_func=fmt)
        idx = cell_indices(res["labels"], res["probs"], true_class, pred_class)
        verdict = "correct" if true_class == pred_class else "errors"
        st.markdown(f"**{len(idx):,} image(s)** ({verdict}), most confident first")
        shown = idx[:40].tolist()
        conf = res["probs"].max(1).values
        studio_ui.image_grid(
            [images[i].numpy() for i in shown], [f"#{i} {conf[i]:.0%}" for i in shown], per_row=5
        )
    st.subheader("Per-class scores")
    metrics = res["metrics"]
    rows = metrics["per_class"] + [
        {"class": "macro average", **metrics["macro"]},
        {"class": "weighted average", **metrics["weighted"]},
    ]
    number = st.column_config.NumberColumn(format="%.4f")
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        column_config={"precision": number, "recall": number, "f1": number},
    )
    st.subheader("Calibration")
    if "calibration" not in res:
        with st.spinner("Fitting a temperature on 5,000 training images..."):
            res["calibration"] = calibrate_model(model, data, images, res["labels"])
    cal = res["calibration"]
    k = st.columns(3)
    k[0].metric("ECE", f"{cal['ece']:.2%}", help="Expected calibration error: the gap between confidence "
                "and accuracy, averaged over 15 confidence bins weighted by their images.")
    k[1].metric("ECE after temperature scaling", f"{cal['ece_scaled']:.2%}")
    k[2].metric("Temperature T", f"{cal['temperature']:.3f}",
                help="Logits are divided by T: above 1 the model was overconfident, below 1 underconfident.")
    st.caption(
        f"T minimises the loss on the last {cal['held_out']:,} training images. Those are held out "
        "only in part for runs trained on a subset and not at all otherwise, so T is an approximation."
    )
    c = st.columns(2)
    for col, (bins, title, chart_key) in zip(c, [
        (cal["bins"], "Reliability: as trained", "eval_reliability"),
        (cal["bins_scaled"], f"Reliability: after scaling by T = {cal['temperature']:.2f}",
         "eval_reliability_scaled"),
    ]):
        col.plotly_chart(
            charts.reliability(bins["confidence"].numpy(), bins["accuracy"].numpy(), bins["count"].numpy(),
                               bins["edges"].numpy(), title),
            key=chart_key,
        )
    st.session_state["eval_abstain"] = float(st.session_state.get(studio_ui.ABSTAIN_KEY, 0.0))
    c = st.columns([1, 2])
    t = c[0].slider(
        "Abstain below confidence t",
        0.0,
        1.0,
        step=0.01,
        key="eval_abstain",
        on_change=lambda: st.session_state.update(
            {studio_ui.ABSTAIN_KEY: st.session_state["eval_abstain"]}
        ),
        help="Draw answers 'Not sure' when its top probability is below t. 0 never abstains.",
    )
    at_t = coverage_curve(res["probs"], res["labels"], [t])
    t_cov, t_acc = at_t["coverage"].item(), at_t["accuracy"].item()
    c[0].metric("Coverage at t", f"{t_cov:.2%}")
    c[0].metric("Accuracy on answered", "-" if t_cov == 0 else f"{t_acc:.2%}")
    c[0].caption("On the model's own probabilities, as Draw shows them (not the scaled ones).")
    curve = cal["coverage"]
    c[1].plotly_chart(
        charts.coverage_accuracy(
            curve["threshold"].numpy(), curve["coverage"].numpy(), curve["accuracy"].numpy(), t, t_cov, t_acc
        ),
        key="eval_coverage",
    )
    st.subheader("Most confident mistakes")
    errors = res["errors"][:32].tolist()
    if errors:
        preds = res["preds"]
        studio_ui.image_grid(
            [images[i].numpy() for i in errors],
            [
                f"{classes[int(res['labels'][i])]} read as {classes[int(preds[i])]} ({conf[i]:.0%})"
                for i in errors
            ],
            per_row=8,
        )
        # Behind a toggle: the panel embeds thousands of training digits on its first look.
        if st.toggle("Why? Explain one mistake", key="eval_why"):
            # Keyed by model and split, whose error lists differ, so a stale pick never lingers.
            pick = st.selectbox("Mistake", errors, key=f"eval_explain-{cache_key[:3]}",
                                format_func=lambda i: f"#{i}: {classes[int(res['labels'][i])]} read as "
                                                      f"{classes[int(preds[i])]}")
            studio_ui.explain_panel(model, images[pick], data.spec, key="eval-why",
                                    model_id=cache_key[:2], top=int(preds[pick]))
    else:
        st.success("No mistakes on this split.")
    st.subheader("Robustness")
    studio_ui.robustness_section(model, data, model_id=cache_key[:2])
    st.subheader("Model internals")
    # Behind a toggle: embedding 2,000 test digits should cost nothing for those who never look.
    if st.toggle("Show first-layer weights and a map of the test embeddings", key="eval_internals"):
        studio_ui.internals_section(model, data, model_id=cache_key[:2])
