"""The dashboard: live traffic, history and the pipeline's health, as a Streamlit app.

``websessions dashboard`` runs it in the background on ``settings.dashboard_host:dashboard_port``
(:mod:`websessions.dashboard.server`); the app is :mod:`websessions.dashboard.app`, its pages
:mod:`~websessions.dashboard.live_page`, :mod:`~websessions.dashboard.history_page` and
:mod:`~websessions.dashboard.pipeline_page`. Every number comes from the read models the CLI uses
(:mod:`websessions.live_view`, :mod:`websessions.report`, :mod:`websessions.stores.hive_history`,
:mod:`websessions.pipeline_state`, :mod:`websessions.audit`), cached server-side for
``settings.dashboard_cache_ttl_s`` seconds by :mod:`websessions.dashboard.reads`.
"""
