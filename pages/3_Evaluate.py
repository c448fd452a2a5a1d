import pandas as pd
import streamlit as st

import studio_charts as charts
import studio_ui
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
    else:
        st.success("No mistakes on this split.")
