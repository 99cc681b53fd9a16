"""Cluster commands say clearly when the admin API cannot be reached."""

from __future__ import annotations

from cli_run import CONFIG_DIR, streamloop


def test_status_without_a_cluster_says_where_it_looked():
    result = streamloop("status", "--admin-url", "http://127.0.0.1:9", "--config-dir", CONFIG_DIR)
    assert result.returncode == 1
    assert "streamloop status:" in result.stderr and "cannot reach http://127.0.0.1:9" in result.stderr


def test_deploy_checks_the_files_before_touching_the_cluster(tmp_path):
    (tmp_path / "scorer.yaml").write_text(
        (CONFIG_DIR / "scorer.yaml").read_text() + "procesingGuarantees: x\n"
    )
    result = streamloop("deploy", "--admin-url", "http://127.0.0.1:9", "--config-dir", tmp_path)
    assert result.returncode == 2
    assert "scorer.yaml: procesingGuarantees: unknown FunctionConfig key" in result.stderr
