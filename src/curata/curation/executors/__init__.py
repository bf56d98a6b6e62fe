"""Executors: where a pipeline runs. ``local``: in this process, or on worker processes of this
machine (:mod:`.processes`); ``ray``: on a Ray cluster (:mod:`.ray`). Both with workers run one
algorithm, :mod:`.replay`, with the pool of workers as its parameter."""
