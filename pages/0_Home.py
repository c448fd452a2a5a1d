"""Home: what the app is, three first steps, what this installation has, and every page."""

import streamlit as st

# Nothing here imports torch: Home opens before it has loaded (studio.warm loads it afterwards).
from mnist_core.data.datasets import DATASETS, dataset_status
from mnist_core.data.integrity import check_files
from mnist_core.device import available_cpus, describe_device, torch_loaded
from studio import frame, identity, picker, warm
from studio.nav import BY_TITLE, HOME, PAGES

with frame.page("Home"):
    st.title("MNIST Studio")
    st.markdown(
        "Explore the MNIST handwritten digits (and Fashion-MNIST), train your own classifier "
        "while watching its curves, see where it goes wrong, and test it on digits you draw."
    )

    st.caption("In a class? Put your name in **Your name**, in the sidebar (the menu at the top left on a "
               "phone): your runs carry it, and only you can change or delete them.")
    st.subheader("Try it in three steps")
    steps = st.columns(3)
    steps[0].markdown("**1. Draw** a digit and see what the bundled model reads.")
    steps[0].page_link(BY_TITLE["Draw"].file, label="Open Draw", icon=":material/draw:")
    steps[1].markdown("**2. Train** a model with the *quick* preset: a curve in under a minute.")
    steps[1].page_link(BY_TITLE["Train"].file, label="Open Train", icon=":material/model_training:")
    steps[2].markdown("**3. Evaluate** it: accuracy, confusion matrix and its worst mistakes.")
    steps[2].page_link(BY_TITLE["Evaluate"].file, label="Open Evaluate", icon=":material/fact_check:")

    st.subheader("This installation")
    left, right = st.columns(2)
    with left:
        st.markdown("**Datasets**")
        details = identity.sees_server_details()  # the server's folders are its owner's business
        for name, spec in DATASETS.items():
            status = dataset_status(name)
            problem = check_files(name) if status["found"] else None
            where = f" in `{status['folder']}`" if details else ""
            if status["found"] and problem:
                st.error(f"{spec.title}: found{where}, but it is damaged: {problem}. "
                         "Replace the files, or delete them to download fresh ones.",
                         icon=":material/broken_image:")
            elif status["found"]:
                st.success(f"{spec.title}: found{where}, files checked", icon=":material/check_circle:")
            else:
                st.warning(status["message"], icon=":material/folder_off:")
    with right:
        st.markdown("**Compute**")
        if torch_loaded():
            st.markdown(f"Device: **{describe_device()}**")
        else:
            st.markdown(f"CPU cores: **{available_cpus()}**. A GPU, if there is one, shows here "
                        "once the engine has loaded, a few seconds after this page opens.")
        st.markdown("**Model in use**")
        in_use = picker.model_in_use_text()
        st.markdown(in_use[:1].upper() + in_use[1:] + ". Change it on Draw, Evaluate or after training.")

    st.subheader("Pages")
    others = [p for p in PAGES if p is not HOME]
    for start in range(0, len(others), 3):  # row by row, so a phone (one column) keeps the order
        for column, p in zip(st.columns(3), others[start:start + 3]):
            column.page_link(p.file, label=p.title, icon=p.icon)
            column.caption(p.description)

warm.start()
