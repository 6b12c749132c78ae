"""The benchmark report labels each ratio with the baseline it was divided by."""

from __future__ import annotations

from bench.report import throughput_tables


def phase(delivered: float) -> dict:
    return {"phases": {"closed": {"delivered_per_s": delivered}}, "pairs": 20}


def test_each_ratio_column_is_headed_by_its_own_baseline():
    scenarios = {
        "throughput": {
            "relay-20": phase(10_000.0),
            "tutorial-core-20": phase(500.0),
            "tutorial-pubsub-20": phase(1_000.0),
            "ours-pubsub-20": phase(750.0),
        }
    }
    lines = throughput_tables(scenarios).splitlines()
    heading = next(line for line in lines if line.startswith("| target"))
    header = [cell.strip() for cell in heading.split("|")]
    ours = next(line for line in lines if line.startswith("| ours-pubsub-20"))
    cells = [cell.strip() for cell in ours.split("|")]
    ratios = {header[i]: cells[i] for i in range(len(header)) if header[i].startswith("×")}
    assert ratios == {"× relay": "0.07×", "× tutorial-core": "1.50×", "× tutorial-pubsub": "0.75×"}
