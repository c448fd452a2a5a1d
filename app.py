"""MNIST Studio: `streamlit run app.py`. The pages are listed once, in studio.nav.PAGES; each
draws its own sidebar (studio.frame), so Streamlit's own page list stays hidden."""

import streamlit as st

from studio.nav import HOME, PAGES

st.navigation([st.Page(p.file, title=p.title, default=p is HOME) for p in PAGES],
              position="hidden").run()
