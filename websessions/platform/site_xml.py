"""The Hadoop family's ``*-site.xml`` format (Hadoop, HBase, Hive): one ``<property>`` per name and value."""

from __future__ import annotations

from xml.sax.saxutils import escape


def site_xml(properties: dict[str, str]) -> str:
    """``properties`` as a Hadoop configuration file, in the given order, names and values XML-escaped."""
    body = "".join(
        f"  <property><name>{escape(k)}</name><value>{escape(v)}</value></property>\n" for k, v in properties.items()
    )
    return f'<?xml version="1.0"?>\n<configuration>\n{body}</configuration>\n'
