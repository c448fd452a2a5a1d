"""The Streamlit layer between the page scripts and the engine (mnist_core), one concern a module.

Only app.py, pages/ and this package import streamlit; mnist_core never does.
"""
