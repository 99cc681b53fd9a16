"""``python -m streamloop.tools.bench``: throughput measured against the loop's own limits (issue 5).

Every measurement runs in the same process, side by side, and the ratios come first: absolute numbers on a
shared machine are noisy, ratios of runs interleaved in time are what to compare.

- :mod:`~streamloop.tools.bench.ceiling`: the loop's ML and state work alone in a tight loop, no runtime;
- :mod:`~streamloop.tools.bench.embedded`: the demo's stream through the embedded runner (the whole loop);
- :mod:`~streamloop.tools.bench.pending`: the RSS of a joiner holding a full pending set (no broker);
- :mod:`~streamloop.tools.bench.broker`: the real-Pulsar sections (skipped without a broker), with
  :mod:`~streamloop.tools.bench.rates` (saturated rates sized by time, flagged),
  :mod:`~streamloop.tools.bench.repeat` (inputs repeated as fresh messages) and
  :mod:`~streamloop.tools.bench.variants` (the loops deployed: the shipped one, the identity loop of
  :mod:`~streamloop.tools.bench.hops`);
- :mod:`~streamloop.tools.bench.report`: the JSON document and the table.
"""
