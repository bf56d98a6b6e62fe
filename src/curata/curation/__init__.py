"""Curation (#5): streaming pipelines of steps that turn a version into a cleaner one, with a
reason for every record removed or changed."""
