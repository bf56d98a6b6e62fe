"""Annotation: projects, question schemas, guidelines, workforce, queue and review (issue #3)."""
