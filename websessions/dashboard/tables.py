"""Shared presentation helpers of the dashboard's pages: frames of records, CSV downloads, element keys."""

from __future__ import annotations

import re
from collections.abc import Iterable

import pandas as pd
import streamlit as st

from websessions.sessions import Session


def css_key(text: str) -> str:
    """``text`` as a Streamlit element key that is also a plain CSS class suffix (``st-key-<key>``)."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", text)


def sessions_frame(sessions: Iterable[Session]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"host": s.host, "ip": s.ip, "start": s.start, "end": s.end, "duration s": round(s.duration_s, 1),
             "events": s.events, "pages": s.pages, "errors": s.errors, "first url": s.first_url, "status": s.status}
            for s in sessions
        ]
    )  # fmt: skip


def download(frame: pd.DataFrame, file_name: str, what: str) -> None:
    """A button that downloads ``frame`` as CSV."""
    st.download_button(
        f"Download {what} (CSV)", frame.to_csv(index=False).encode(), file_name, "text/csv", key=f"dl-{file_name}"
    )
