"""What runs on the Pulsar worker: the deployable package (the zip holds this folder and nothing else).

The function base (:mod:`~streamloop.worker.function`), payloads (:mod:`~streamloop.worker.codec`),
configuration (:mod:`~streamloop.worker.config`), state, and the four functions: ``features``, ``scorer``,
``joiner`` and ``learner``. Nothing here imports :mod:`streamloop.runtime` or :mod:`streamloop.tools`.
"""
