"""The audit dashboard: a Streamlit app that replays runs, drift and evaluations read from the API."""
