"""The batch layer: Spark jobs that recompute a day's sessions, statistics and history from the raw events."""
