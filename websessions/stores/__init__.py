"""Serving stores: the layers' sessions and statistics in Postgres and HBase, behind small APIs."""
