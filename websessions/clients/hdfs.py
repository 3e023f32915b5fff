"""HDFS over WebHDFS (the `hdfs` package), as the settings' HDFS user."""

from __future__ import annotations

import logging

from websessions.settings import Settings

# Both clients log every request at INFO; health probes would flood the CLI's output.
logging.getLogger("hdfs").setLevel(logging.WARNING)


def webhdfs(settings: Settings, timeout_s: float = 30.0):
    """An ``hdfs.InsecureClient`` for the NameNode's WebHDFS endpoint."""
    from hdfs import InsecureClient

    return InsecureClient(settings.webhdfs_url, user=settings.hdfs_user, timeout=timeout_s)
