"""Closing the loop (#16): which dataset versions trained which checkpoint, and what its
evaluations found (:class:`~curata.loop.service.EvaluationService`)."""
