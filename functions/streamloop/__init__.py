"""streamloop: online machine learning inside Apache Pulsar.

Four Pulsar Functions close a loop through topics: ``features`` → ``scorer`` (ONNX Runtime) →
``predictions`` ⋈ ``labels`` in the ``joiner`` → ``examples`` → ``learner`` (river) → ``models`` → scorer.
"""

__version__ = "0.1.0"
