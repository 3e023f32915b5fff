"""Clients of the external stores, one module per store; each built from settings."""
