"""`make chaos`, small: the whole system under the default fault mix keeps
every invariant, serially and with producers and workers in threads, draws
its chart, and a seed reproduces a serial run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from chaos.run import main


def run(out: Path, seed: int) -> dict[str, Any]:
    assert main(["--submissions", "60", "--seed", str(seed), "--out", str(out)]) == 0
    report: dict[str, Any] = json.loads((out / "report.json").read_text())
    return report


def test_the_default_mix_keeps_every_invariant_and_draws_the_chart(tmp_path: Path) -> None:
    report = run(tmp_path, seed=11)

    checked = {f"I{n}": "holds" for n in (*range(1, 8), 9)}
    assert report["invariants"] == {**checked, "I8": "not checked", "I10": "not checked"}
    assert sum(report["faults"].values()) > 0  # the run did meet faults
    assert (tmp_path / "chaos.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_seed_reproduces_the_faults_and_the_answers(tmp_path: Path) -> None:
    first, second = run(tmp_path / "a", seed=5), run(tmp_path / "b", seed=5)
    assert (first["faults"], first["answers"]) == (second["faults"], second["answers"])


def test_producers_and_workers_at_once_lose_no_job(tmp_path: Path) -> None:
    arguments = ["--concurrent", "--producers", "3", "--workers", "2", "--latency-ms", "20"]
    assert main([*arguments, "--submissions", "90", "--seed", "3", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "report.json").read_text())

    assert set(report["invariants"].values()) == {"holds", "not checked"}
    assert report["answers"].get("202", 0) > 0 and report["left_processing"] == 0


def test_the_report_gives_each_faults_answers_as_shares_and_the_recovery_work(tmp_path: Path) -> None:
    report = run(tmp_path, seed=11)

    shares = report["answer_shares_by_fault"]
    assert "none" in shares and len(shares) > 1
    for answered in shares.values():
        assert abs(sum(answered.values()) - 1) < 1e-9
    recovered = report["recovery"]
    assert recovered["send retries"] == report["metrics"].get("SendRetries", 0) > 0
    assert recovered["settled by the reconciler"] == report["reconciler_settled"]
