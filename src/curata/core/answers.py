"""Answer-shape constants shared by the question types and the statistics computed on them.

They live in the lowest layer so that :mod:`curata.stats` (agreement on preferences) and the
question types (validation) name the same values without importing each other.
"""

from __future__ import annotations

PREFERENCE_CHOICES = ("A", "B", "tie", "both_bad")
"""A preference's choice: response A, response B, a tie, or both bad."""
