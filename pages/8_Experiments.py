import streamlit as st

from mnist_core.studies.experiments import EXPERIMENTS
from studio import experiments_panel, frame

with frame.page("Experiments"):
    st.title("Experiments")
    st.markdown("Eight short experiments, each a question about how networks learn. **Set it up** fills the "
                "Train page; start the run, watch what each one says to watch, answer the question, then "
                "come back: once a run of it has finished, the answer is explained from that run's own numbers.")
    picked = st.query_params.get("experiment")  # a teacher's link to one experiment opens it
    for experiment in EXPERIMENTS:
        experiment_box = st.expander(f"**{experiment.title}**",
                                     expanded=experiment.slug == picked, icon=":material/science:")
        with experiment_box, frame.shown_errors():
            experiments_panel.show(experiment)
