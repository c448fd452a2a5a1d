import pandas as pd
import streamlit as st

from mnist_core.analysis.evaluation import cell_indices
from studio import charts, evaluate_panel, explain_panel, frame, handwriting_panel, picker
from studio.frame import shown_errors
from studio.images import image_grid
from studio.shared_data import dataset_or_help
from studio.text import class_label

SCORE_WORDS = ("**Precision**: of the digits the model called a 3, the share that really were 3s. "
               "**Recall**: of the real 3s, the share it found. **F1** balances the two in one number, and "
               "**support** is how many digits of that class the split holds.")


def select_cell() -> None:
    points = st.session_state["eval_cm"]["selection"].get("points") or []
    if points:
        st.session_state["eval_true"] = int(points[0]["y"])
        st.session_state["eval_pred"] = int(points[0]["x"])


with frame.page("Evaluate"):
    st.title("Evaluate")
    top = st.columns([3, 1])
    with top[0]:
        choice = picker.model_picker("eval_model")
    split = top[1].radio("Split", ["test", "train"], horizontal=True, key="eval_split")
    model_and_config = None
    with shown_errors():
        model_and_config = picker.load_choice(choice)
    if model_and_config is None:
        st.stop()
    model, config = model_and_config
    data = dataset_or_help(config.dataset)
    if data is None:
        st.stop()
    tta = evaluate_panel.tta_toggle(choice, config, split)
    cache_key = (choice, picker.choice_stamp(choice), split, data.source, tta)
    with st.spinner(f"Classifying the {split} split" + (" five times over..." if tta else "...")):
        res = evaluate_panel.shared_evaluation(*cache_key, model, data)
    images = data.split(split)[0]
    classes = list(data.classes)
    cm = res["confusion"].numpy()
    m = st.columns(4)
    m[0].metric("Accuracy with TTA" if tta else "Accuracy", f"{res['accuracy']:.2%}")
    m[1].metric("Loss", f"{res['loss']:.4f}")
    m[2].metric("Errors", f"{len(res['errors']):,}")
    m[3].metric("Images", f"{len(res['labels']):,}")
    st.subheader("Confusion matrix")
    off = cm.copy()
    off[range(len(cm)), range(len(cm))] = -1
    worst = divmod(int(off.argmax()), len(cm))
    # Each model opens on its own largest confusion: a cell picked for the previous model
    # (its 9 -> 4) says little about the next one.
    shown_model = (choice, picker.choice_stamp(choice))
    if st.session_state.get("eval_cell_model") != shown_model:
        st.session_state["eval_cell_model"] = shown_model
        st.session_state["eval_true"], st.session_state["eval_pred"] = worst
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
        fmt = lambda i: class_label(i, classes)  # noqa: E731
        true_class = s[0].selectbox("True class", range(len(classes)), key="eval_true", format_func=fmt)
        pred_class = s[1].selectbox("Predicted class", range(len(classes)), key="eval_pred", format_func=fmt)
        idx = cell_indices(res["labels"], res["probs"], true_class, pred_class)
        verdict = "correct" if true_class == pred_class else "errors"
        st.markdown(f"**{len(idx):,} image(s)** ({verdict}), most confident first")
        shown = idx[:40].tolist()
        conf = res["probs"].max(1).values
        image_grid(
            [images[i].numpy() for i in shown], [f"#{i} {conf[i]:.0%}" for i in shown]
        )
    shown_errors_n = 40  # every test mistake of a model at 99.6% or better, so none hide
    total = len(res["errors"])
    st.subheader(f"All {total} mistakes, most confident first" if 0 < total <= shown_errors_n
                 else "Most confident mistakes")
    errors = res["errors"][:shown_errors_n].tolist()
    if errors:
        preds = res["preds"]
        image_grid(
            [images[i].numpy() for i in errors],
            [
                f"{classes[int(res['labels'][i])]} read as {classes[int(preds[i])]} ({conf[i]:.0%})"
                for i in errors
            ],
            width=96,  # room for "4 read as 9 (87%)" on one line
        )
        # Behind a toggle: the panel embeds thousands of training digits on its first look.
        if st.toggle("Why? Explain one mistake", key="eval_why"):
            # Keyed by model and split, whose error lists differ, so a stale pick never lingers.
            pick = st.selectbox("Mistake", errors, key=f"eval_explain-{cache_key[:3]}",
                                format_func=lambda i: f"#{i}: {classes[int(res['labels'][i])]} read as "
                                                      f"{classes[int(preds[i])]}")
            explain_panel.show_why(model, images[pick], data.spec, key="eval-why",
                                    model_id=cache_key[:2], top=int(preds[pick]))
    else:
        st.success("No mistakes on this split.")
    # The deeper looks open on request: a learner's first screen is the accuracy, the confusion
    # matrix and the mistakes.
    with st.expander("Per-class scores", icon=":material/table_chart:", key="eval_section_scores"):
        st.caption(SCORE_WORDS)
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
    with st.expander("Calibration: can you trust its confidence?", icon=":material/balance:",
                     key="eval_section_calibration"):
        st.caption(evaluate_panel.calibration_words(config))
        evaluate_panel.calibration_section(model, data, images, res)
    with st.expander("My handwriting", icon=":material/draw:", key="eval_section_handwriting"), shown_errors():
        handwriting_panel.evaluate_block(model, data.spec, res["accuracy"] if split == "test" else None)
    with st.expander("Robustness: shifted, rotated, thicker digits", icon=":material/open_with:",
                     key="eval_section_robustness"):
        evaluate_panel.robustness_section(model, data, model_id=cache_key[:2])
    with st.expander("Break it", icon=":material/heart_broken:", key="eval_section_break"):
        # Behind a toggle: it evaluates copies of the model, which only those who ask should pay for.
        if st.toggle("Silence units or add noise, on a copy of this model", key="eval_break"):
            evaluate_panel.break_section(model, data, model_id=cache_key[:2])
    with st.expander("Model internals", icon=":material/hub:", key="eval_section_internals"):
        # Behind a toggle: embedding 2,000 test digits should cost nothing for those who never look.
        if st.toggle("Show first-layer weights and a map of the test embeddings", key="eval_internals"):
            evaluate_panel.internals_section(model, data, model_id=cache_key[:2])
