import streamlit as st
from streamlit_drawable_canvas import st_canvas

from mnist_core.data.preprocessing import load_image
from mnist_core.data.tensors import DATASETS
from studio import draw_panel, explain_panel, fool_panel, frame, handwriting_panel, picker
from studio.frame import shown_errors
from studio.text import plain

CANVAS = 280


def why(model, spec, choice, reading, key: str) -> None:
    if reading is None or reading.top is None:
        return
    # Behind a toggle: the canvas reruns its part of the page on every stroke, and the first
    # look embeds thousands of training digits, which should not slow drawing for those who
    # never ask.
    # Kept while there is no drawing to explain, and in the address, so a reload keeps it too.
    if st.toggle("Why? Show what the model looked at and the closest training digits", key=f"{key}-why",
                 persist_state="session", bind="query-params"):
        explain_panel.show_why(model, reading.prep.tensor, spec, key=key,
                               model_id=(choice, picker.choice_stamp(choice)), top=reading.top)


@st.fragment
def drawing(model, spec, choice) -> None:
    """The canvas and everything that reads it. A fragment: a stroke reruns only this, not the
    model picker's scan of the runs folder or the upload tab."""
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
            # One canvas for the whole visit. Clearing by giving it a new key (a new canvas
            # after a round trip to the server) loses every stroke drawn in the meantime. The
            # canvas's own bin clears it in the browser, at once.
            key="canvas-draw",
        )
        st.slider("Stroke width", 5, 40, 20, key="draw_stroke")
        st.caption("Draw one digit, large and centred, like on paper. To start again, use the "
                   ":material/delete: bin above the canvas; the arrows undo and redo a stroke.")
    reading = None
    with right, shown_errors():
        # Preprocessed once: the prediction, Why?, saving and the maps all use this reading.
        reading = draw_panel.read(model, result.image_data, spec)
        draw_panel.show_prediction(reading, spec, key="draw")
    with shown_errors():
        why(model, spec, choice, reading, "draw")
    with shown_errors():
        handwriting_panel.save_panel(reading, spec, key="draw")
        draw_panel.activation_maps_panel(model, reading, key="draw")
    with shown_errors():
        fool_panel.fool_panel(model, reading, spec, key="draw")


with frame.page("Draw"):
    st.title("Draw")
    choice = picker.model_picker("draw_model")
    model_and_config = None
    with shown_errors():
        model_and_config = picker.load_choice(choice)
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
        drawing(model, spec, choice)
    with upload_tab:
        upload = st.file_uploader(
            "An image of one digit (dark on light or light on dark)",
            type=["png", "jpg", "jpeg", "bmp", "gif", "webp", "tif", "tiff"],
            key="draw_upload",
        )
        if upload is not None:
            with shown_errors():
                image = load_image(upload.getvalue())
                st.image(image, caption=plain(upload.name), width=140)
                uploaded = draw_panel.read(model, image, spec)
                draw_panel.show_prediction(uploaded, spec, key="upload",
                                           blank_message="The image looks blank: upload a digit.")
                why(model, spec, choice, uploaded, "upload")
