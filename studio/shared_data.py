"""The datasets as the pages get them: loaded once per server, or a message saying how to add them."""
from __future__ import annotations

import streamlit as st

from mnist_core import settings
from mnist_core.data.tensors import DATASETS, Dataset, DatasetError, dataset_status, load_dataset


@st.cache_resource(show_spinner=False, max_entries=4)
def cached_dataset(name: str, folder: str) -> Dataset:
    # Shared read-only by every session: the uint8 tensors are loaded once per server. No
    # spinner: the warm-up thread (studio.warm) loads it first, and a spinner there, outside any
    # page, only logged "missing ScriptRunContext".
    return load_dataset(name, folder, allow_download=False)


def dataset_or_help(name: str) -> Dataset | None:
    """The dataset, or None after telling the user where it was looked for and how to add it.

    Keyed by the folder it was found in, so pointing the env var elsewhere takes effect.
    """
    status = dataset_status(name)
    if not status["found"]:
        st.info(status["message"], icon=":material/folder_off:")
        if not settings.current().offline and st.button(
            f"Download {DATASETS[name].title} now", key=f"download-{name}"
        ):
            try:
                with st.spinner("Downloading..."):
                    load_dataset(name)
            except DatasetError as exc:
                st.error(str(exc))
                return None
            st.rerun()
        return None
    try:
        return cached_dataset(name, status["folder"])
    except DatasetError as exc:
        st.error(str(exc))
        return None

