"""The learner's ONNX size bound and export timing: a model past ``max_model_bytes`` is not served."""

from __future__ import annotations

from learner.test_learner_function import METRICS, MODELS, examples, learner


def test_every_promotion_records_its_export_time_and_size():
    h = learner(checkpoint_every=1000, promotion={"min_samples": 50, "every_n": 100, "margin": 1.0})
    for record in examples(200):
        h.send(record)
    promotions = [r for r in h.records(METRICS) if r["event"] == "promotion"]
    models = h.messages(MODELS)
    assert [r["bytes"] for r in promotions] == [len(m.payload) for m in models] and len(models) == 2
    assert all(r["export_seconds"] > 0 for r in promotions)
    assert len(h.metrics["export_seconds"]) == 2


def test_a_model_past_max_model_bytes_is_reported_and_not_published():
    settings = {"checkpoint_every": 1000, "promotion": {"min_samples": 50, "every_n": 100, "margin": 1.0}}
    fits = learner(**settings)
    for record in examples(100):
        fits.send(record)
    [model] = fits.messages(MODELS)
    h = learner(**settings, max_model_bytes=len(model.payload) - 1)
    for record in examples(300):  # served by default:0 throughout
        h.send(record)
    assert h.messages(MODELS) == [] and h.function.state.published is None
    oversize = [r for r in h.records(METRICS) if r["event"] == "oversize"]
    assert [(r["model"], r["reason"], r["serving"]) for r in oversize] == [
        ("default:1", "schedule", "default:0"),
        ("default:2", "schedule", "default:0"),
        ("default:3", "schedule", "default:0"),
    ]  # one attempt per scheduled promotion, never one per example
    assert all(r["bytes"] >= len(model.payload) > r["max_bytes"] for r in oversize)
    assert len(h.metrics["export_seconds"]) == 3 and "promotions" not in h.metrics
