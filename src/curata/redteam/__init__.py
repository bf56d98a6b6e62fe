"""Red teaming as a data discipline (issue #14): attacks and their converters, the targets they
are sent to, the scorers that judge each attempt, campaigns that persist every attempt, and the
safety data and checkpoint-to-checkpoint regressions made from them. Converters, targets, scorers
and attack generators are plugin kinds (:mod:`curata.core.plugins`); their algorithms are pure and
the services around them load and persist.
"""
