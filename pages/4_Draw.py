import streamlit as st
from streamlit_drawable_canvas import st_canvas

import studio_handwriting
import studio_ui
from mnist_core.data import DATASETS
from mnist_core.preprocessing import load_image, preprocess

CANVAS = 280


def why(image, top: int | None, key: str) -> None:
    if top is None:
        return
    # Behind a toggle: the canvas reruns the page on every stroke, and the first look embeds
    # thousands of training digits, which should not slow drawing for those who never ask.
    if st.toggle("Why? Show what the model looked at and the closest training digits", key=f"{key}-why"):
        studio_ui.explain_panel(model, preprocess(image, spec).tensor, spec, key=key,
                                model_id=(choice, studio_ui.choice_stamp(choice)), top=top)


def clear() -> None:
    # A new key is a new, empty canvas.
    st.session_state["canvas_n"] = st.session_state.get("canvas_n", 0) + 1


with studio_ui.page("Draw", ":material/draw:"):
    st.title("Draw")
    choice = studio_ui.model_picker("draw_model")
    model_and_config = None
    with studio_ui.shown_errors():
        model_and_config = studio_ui.load_choice(choice)
    if model_and_config is None:
        st.info("Train a model on the Train page, then pick it here.")
        st.stop()
    model, config = model_and_config
    spec = DATASETS[config.dataset]
    if spec.name != "mnist":
        st.info(
            f"This model was trained on {spec.title}: it will read any drawing as one of "
            f"{', '.join(spec.classes)}."
        )
    draw_tab, upload_tab = st.tabs(["Draw", "Upload an image"])
    with draw_tab:
        # Wide enough for the 280-pixel canvas on a laptop screen; a narrower column clips it.
        left, right = st.columns([2, 3])
        with left:
            # Read before the canvas is drawn; the slider sits below it, clear of its toolbar.
            stroke = st.session_state.get("draw_stroke", 20)
            result = st_canvas(
                stroke_width=stroke,
                stroke_color="#FFFFFF",
                background_color="#000000",
                width=CANVAS,
                height=CANVAS,
                drawing_mode="freedraw",
                update_streamlit=True,
                return_image_data=True,
                key=f"canvas-{st.session_state.get('canvas_n', 0)}",
            )
            st.slider("Stroke width", 5, 40, 20, key="draw_stroke")
            st.button("Clear", icon=":material/delete:", on_click=clear, key="draw_clear")
            st.caption("Draw one digit, large and centred, like on paper.")
        top = None
        with right:
            with studio_ui.shown_errors():
                top = studio_ui.show_prediction(result.image_data, model, spec, key="draw")
        with studio_ui.shown_errors():
            why(result.image_data, top, "draw")
        with studio_ui.shown_errors():
            studio_handwriting.save_panel(result.image_data, top, spec, key="draw")
            studio_ui.activation_maps_panel(model, result.image_data if top is not None else None, spec, key="draw")
    with upload_tab:
        upload = st.file_uploader(
            "An image of one digit (dark on light or light on dark)",
            type=["png", "jpg", "jpeg", "bmp", "gif", "webp", "tif", "tiff"],
            key="draw_upload",
        )
        if upload is not None:
            with studio_ui.shown_errors():
                image = load_image(upload.getvalue())
                st.image(image, caption=upload.name, width=140)
                top = studio_ui.show_prediction(
                    image, model, spec, key="upload", blank_message="The image looks blank: upload a digit."
                )
                why(image, top, "upload")
