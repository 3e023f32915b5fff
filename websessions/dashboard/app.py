"""The dashboard's Streamlit script (run by ``streamlit run``; see :mod:`websessions.dashboard.server`)."""

from __future__ import annotations

import hmac

import streamlit as st

from websessions.dashboard import history_page, live_page, pipeline_page
from websessions.settings import get_settings

LOOPBACK = "127.0.0.1"


def logged_in() -> bool:
    """True on the loopback address; elsewhere once the viewer gave ``settings.dashboard_password``."""
    settings = get_settings()
    if settings.dashboard_host == LOOPBACK or st.session_state.get("logged_in"):
        return True
    st.title("websessions")
    with st.form("login"):
        password = st.text_input("Password (`websessions stack status` shows it)", type="password")
        if st.form_submit_button("Log in"):
            if hmac.compare_digest(password.encode(), settings.dashboard_password.encode()):
                st.session_state["logged_in"] = True
                st.rerun()
            st.warning("Wrong password.")
    return False


def main() -> None:
    st.set_page_config(page_title="websessions", page_icon="📈", layout="wide")
    if not logged_in():
        return
    st.navigation(
        [
            st.Page(live_page.render, title="Live", url_path="live", default=True),
            st.Page(history_page.render, title="History", url_path="history"),
            st.Page(pipeline_page.render, title="Pipeline", url_path="pipeline"),
        ]
    ).run()


main()
