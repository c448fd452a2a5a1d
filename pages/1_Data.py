import math

import streamlit as st

from mnist_core.data.explore import sample_indices, split_summary
from mnist_core.data.tensors import DATASETS
from studio import augment_preview, charts, frame, labels_panel
from studio.images import image_grid
from studio.shared_data import cached_dataset, dataset_or_help
from studio.text import class_label


def first_page():
    # A filter change can leave fewer pages than the page number the user was on.
    st.session_state["data_page"] = 1


@st.cache_data(show_spinner="Computing statistics...", max_entries=8)
def summary(name: str, source: str, split: str) -> dict:
    # Keyed by the folder too; the tensors themselves come from the resource cache.
    return split_summary(cached_dataset(name, source), split)


with frame.page("Data"):
    st.title("Data")
    top = st.columns([2, 1, 3])
    name = top[0].radio(
        "Dataset",
        list(DATASETS),
        format_func=lambda n: DATASETS[n].title,
        horizontal=True,
        key="data_dataset",
        on_change=first_page,
    )
    split = top[1].radio("Split", ["train", "test"], horizontal=True, key="data_split", on_change=first_page)
    data = dataset_or_help(name)
    if data is None:
        st.stop()
    stats = summary(name, data.source, split)
    images, labels = data.split(split)
    classes = list(data.classes)
    m = st.columns(4)
    m[0].metric("Images", f"{stats['count']:,}")
    m[1].metric("Classes", len(classes))
    m[2].metric("Pixel mean", f"{stats['mean']:.4f}")
    m[3].metric("Pixel std", f"{stats['std']:.4f}")
    st.caption(f"Read from `{data.source}`. Pixels are scaled to [0, 1] for mean and std.")
    samples_tab, stats_tab, augment_tab, labels_tab = st.tabs(
        ["Samples", "Statistics", "Augmentation", "Suspicious labels"])
    with samples_tab:
        c = st.columns([2, 2, 1, 1, 1])
        label = c[0].selectbox(
            "Class",
            [None] + list(range(len(classes))),
            key="data_label",
            on_change=first_page,
            format_func=lambda i: "All classes" if i is None else class_label(i, classes),
        )
        order = c[1].radio(
            "Order", ["File order", "Random"], horizontal=True, key="data_order", on_change=first_page
        )
        seed = c[2].number_input(
            "Seed", 0, 10**6, 0, disabled=order != "Random", key="data_seed", on_change=first_page
        )
        per_page = c[3].selectbox(
            "Per page", [24, 48, 96], index=1, key="data_per_page", on_change=first_page
        )
        idx = sample_indices(labels, label, shuffle=order == "Random", seed=int(seed))
        pages = max(1, math.ceil(len(idx) / per_page))
        page = c[4].number_input(f"Page (of {pages:,})", 1, pages, key="data_page")
        shown = idx[(page - 1) * per_page : page * per_page].tolist()

        grid, inspect = st.columns([3, 2])
        with grid:
            image_grid(
                [images[i].numpy() for i in shown],
                [f"#{i}: {classes[int(labels[i])]}" for i in shown],
            )
        with inspect:
            if shown:
                # A key per page: the previous page's choice is not an option on this one.
                pick = st.selectbox(
                    "Inspect a sample from this page",
                    shown,
                    key=f"data_inspect-{shown[0]}-{len(shown)}",
                    format_func=lambda i: f"#{i}: {classes[int(labels[i])]}",
                )
                st.plotly_chart(
                    charts.pixel_heatmap(
                        images[pick].numpy(), f"#{pick}, label {classes[int(labels[pick])]}: pixel values"
                    ),
                    key="pixels",
                )
                st.caption("Point at a pixel to read its value: 0 is blank paper, 255 full ink.")
            else:
                st.info("No images match this filter.")
    with stats_tab:
        left, right = st.columns(2)
        left.plotly_chart(charts.class_balance(stats["counts"], classes), key="balance")
        right.plotly_chart(charts.intensity_histogram(stats["histogram"]), key="histogram")
        st.plotly_chart(charts.mean_images(stats["mean_images"], classes), key="means")
    with augment_tab:
        a = st.columns(2)
        augment_on = a[0].checkbox("Augment (random rotation, shift, scale)", value=True, key="data_augment")
        distort = a[1].checkbox("Distort like other hands", key="data_distort")
        augment_preview.show(data, augment_on, distort)
    with labels_tab:
        labels_panel.show(data, split)
