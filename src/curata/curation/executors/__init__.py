"""Executors: where a pipeline runs (local processes; Ray in a later step)."""
