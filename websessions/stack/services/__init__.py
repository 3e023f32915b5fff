"""One module per local service."""
