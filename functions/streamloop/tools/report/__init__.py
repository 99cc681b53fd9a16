"""``streamloop report``: the learner's prequential metric (accuracy, macro F1, MAE, ...) per model version
over time, with drift and promotion marks, and stage latency histograms, drawn from a run's ``metrics`` to
a PNG and a self-contained HTML page."""

from streamloop.tools.report.charts import draw
from streamloop.tools.report.page import write_html
from streamloop.tools.report.summary import Summary, summarize

__all__ = ["Summary", "draw", "summarize", "write_html"]
