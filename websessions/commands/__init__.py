"""Command-line commands grouped by concern; each module's ``add_parsers(sub)`` registers its commands."""
