"""The campaign's option paths reproduce bit for bit the runs recorded at its fixed commit
(equivalence_runs.py): the evidence behind harness/core/source_ledger.py's entries, which let
the runs made there read as current."""

import json
from pathlib import Path

import pytest
from equivalence_runs import RECORDED_AT, differences, record_cases

RECORD = Path(__file__).parent / "data" / "equivalence_runs.json"


@pytest.mark.slow
def test_the_campaign_option_paths_are_bit_identical_to_the_recorded_commit():
    recorded = json.loads(RECORD.read_text())
    differ = differences(recorded, record_cases())
    assert not differ, (
        f"{len(differ)} digests differ from the runs recorded at {RECORDED_AT[:7]}, e.g. "
        f"{differ[:3]}: this code does not reproduce the campaign's runs, so their sources "
        "must not be declared equivalent in harness/core/source_ledger.py"
    )


def test_a_changed_column_or_tensor_is_named():
    old = {"a": {"metrics": {"x": "1", "y": "2"}, "policy": {"w": "3"}}, "b": {"metrics": {}, "policy": {}}}  # fmt: skip
    new = {"a": {"metrics": {"x": "1", "y": "9"}, "policy": {"w": "3", "v": "4"}}}
    assert differences(old, new) == ["a: metrics y", "a: policy v", "b: not recorded"]
    assert differences(old, old) == []
