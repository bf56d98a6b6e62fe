"""Pure statistics: agreement coefficients, label aggregation models, proportions and their
intervals, and the agreement that fits each question type.

Functions here take arrays, lists or mappings and return values; none reads a database, a file
or a workspace, so each is tested against published worked examples. This is a lower layer:
it imports only :mod:`curata.core` (``tests/unit/test_import_layers.py`` checks), and both
annotation and quality build on it.
"""
