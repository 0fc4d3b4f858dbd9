"""Reading what a deploy changed from pyinfra's ``--json`` result (lab/harness/deploys.py):
each operation's outcome on each host, and never "no changes" from output that holds none."""

import json
import re
from pathlib import Path

import pytest

from lab.harness.deploys import DeployResultError, DeployRun, OperationResult, operation_results

# A real first deploy of the lab (`pyinfra -y --json inventories/lab.py deploy.py`), trimmed
# to five operations: changed on every host, or on none.
CAPTURED = (Path(__file__).parent / "files/pyinfra-run.json").read_text()
# What pyinfra prints without --json: the table the harness used to parse.
PRINTED_TABLE = """--> Results:
    Operation                                     Hosts   Success   Error   No Change
    Stand-in site (lab only) | Install PHP-FPM    2       2         -       -
    Grand total                                   22      22        -       -
"""


def edited(change) -> str:
    """The captured result after ``change`` (a function editing its payload in place)."""
    payload = json.loads(CAPTURED)
    change(payload)
    return json.dumps(payload)


def test_each_operation_has_its_outcome_per_host():
    assert operation_results(CAPTURED) == [
        OperationResult("Holdfast base | Refresh the apt index (at most every 3600s)", ("mon1", "web1", "web2"), (), ()),
        OperationResult("nginx | nginx configuration", ("web1", "web2"), (), ()),
        OperationResult("nginx | nginx enabled and running", (), ("web1", "web2"), ()),
        OperationResult("External monitor | prometheus enabled and running", (), ("mon1",), ()),
        OperationResult("Monit | Monit configuration", ("mon1", "web1", "web2"), (), ()),
    ]


def test_changed_operations_are_those_that_changed_a_host():
    run = DeployRun(0, CAPTURED, "")
    assert run.changed_operations == [
        "Holdfast base | Refresh the apt index (at most every 3600s)",
        "nginx | nginx configuration",
        "Monit | Monit configuration",
    ]


def test_a_run_where_every_host_is_unchanged_changed_nothing():
    def nothing_changed(payload):
        for operation in payload["results"]["operations"]:
            operation["no_change"], operation["success"] = operation["success"] + operation["no_change"], []

    assert DeployRun(0, edited(nothing_changed), "").changed_operations == []


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        ("", "no pyinfra --json result"),
        ("Traceback (most recent call last):\n  ...", "no pyinfra --json result"),
        (PRINTED_TABLE, "no pyinfra --json result"),
        ("[]", "no pyinfra --json result"),
        (edited(lambda payload: payload.update(results=None)), "no pyinfra --json result"),
        (edited(lambda payload: payload["results"]["operations"][0].pop("success")), "KeyError: 'success'"),
        (edited(lambda payload: payload["results"].update(operations=[])), "lists no operation"),
        (edited(lambda payload: payload["results"]["operations"][1]["success"].pop()),
         "'nginx | nginx configuration': an outcome for 1 of its 2 hosts"),
    ],
    ids=["empty", "garbage", "printed-table", "not-a-run", "dry-run", "outcome-missing", "no-operation",
         "host-without-outcome"],
)
def test_output_without_a_result_is_an_error_not_no_changes(result, expected):
    run = DeployRun(0, result, "--> Loading inventory...\nthe end of pyinfra's log")
    with pytest.raises(DeployResultError, match=f"(?s){re.escape(expected)}.*the end of pyinfra's log"):
        run.changed_operations  # noqa: B018 (the property raises)
