"""``python -m streamloop.tools.bench``: throughput measured against the loop's own limits (issue 5).

Every measurement runs in the same process, side by side, and the ratios come first: absolute numbers on a
shared machine are noisy, ratios of runs interleaved in time are what to compare.

- :mod:`~streamloop.tools.bench.ceiling`: the library chain alone in a tight loop, no transport;
- :mod:`~streamloop.tools.bench.embedded`: the demo's stream through the embedded runner (the whole loop);
- :mod:`~streamloop.tools.bench.pending`: the RSS of a joiner holding a full pending set (no broker);
- :mod:`~streamloop.tools.bench.broker`: the real-Pulsar sections (skipped until a broker measurement exists);
- :mod:`~streamloop.tools.bench.report`: the JSON document and the table.
"""
