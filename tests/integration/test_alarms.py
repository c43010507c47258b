"""The alarms an operator deploys beside bbbscale (docs/alarms.md).

CloudWatch (infra/cloudformation/alarms.yaml): each alarm, resolved as CloudFormation creates it, is a
valid PutMetricAlarm request by botocore's own model of the API, notifies the stack's topic when it
fires and when it is over, and names the functions and queues the other templates create under the
names the stages give them. That each alarm on bbbscale's own figures matches a metric the scheduled
check really prints (namespace, name, exact dimension set) is tests/e2e/test_capacity_check.py's.

Prometheus (infra/prometheus/alerts.yml): Prometheus' own `promtool` checks the rules and runs their
tests (alerts_test.yml) through its rule engine; .ci/run installs it (Debian's `prometheus`). That the
rules read series `bbbscale run` serves is tests/integration/test_metrics_endpoint.py's.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import botocore.session
import pytest
import yaml
from botocore.validate import ParamValidator

from tests.support.alarms import ROOT, resolved_alarms, template

STAGES = ("dev", "prod")
CONFIG = json.loads((ROOT / ".chalice" / "config.json").read_text())
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (Debian: prometheus)")


@pytest.mark.parametrize("stage", STAGES)
def test_each_alarm_is_a_valid_request_and_notifies_the_topic_both_ways(stage):
    operation = (
        botocore.session.get_session().get_service_model("cloudwatch").operation_model("PutMetricAlarm")
    )
    alarms = resolved_alarms(Stage=stage, AlarmEmail="oncall@example.org")
    assert len(alarms) == 7
    for logical, alarm in alarms.items():
        report = ParamValidator().validate(alarm, operation.input_shape)
        assert not report.has_errors(), f"{logical}: {report.generate_report()}"
        assert alarm["AlarmName"].startswith(f"bbbscale-{stage}-"), logical
        assert alarm["AlarmActions"] == alarm["OKActions"] == ["ref:AlarmTopic"], logical
        assert alarm["TreatMissingData"] in ("breaching", "notBreaching"), logical
    assert len({a["AlarmName"] for a in alarms.values()}) == len(alarms)
    # only a stopped check breaches on missing data: the others are quiet when nothing is reported
    breaching = {logical for logical, a in alarms.items() if a["TreatMissingData"] == "breaching"}
    assert breaching == {"NoCapacityCheck"}


@pytest.mark.parametrize("stage", STAGES)
def test_the_alarms_name_what_the_stage_deploys(stage):
    alarms = resolved_alarms(Stage=stage)
    environment = CONFIG["stages"][stage]["environment_variables"]
    for alarm in alarms.values():  # the cluster the stage's check reports, when none is given
        for dimension in alarm["Dimensions"]:
            if dimension["Name"] == "cluster":
                assert dimension["Value"] == environment["BBBSCALE_CLUSTER"]
    # the guard function: `chalice deploy` names it <app>-<stage>-burst_guard; the SAM merge template
    # gives it ${AWS::StackName}-burst_guard, with the stack named bbbscale-<stage> (docs/deploy.md)
    (guard,) = [a for a in alarms.values() if a["Namespace"] == "AWS/Lambda"]
    assert guard["Dimensions"] == [
        {"Name": "FunctionName", "Value": f"{CONFIG['app_name']}-{stage}-burst_guard"}
    ]
    sam = json.loads((ROOT / "infra" / "sam" / "guard.json").read_text())
    named = sam["Resources"]["BurstGuard"]["Properties"]["FunctionName"]["Fn::Sub"]
    assert named.replace("${AWS::StackName}", f"bbbscale-{stage}") == guard["Dimensions"][0]["Value"]
    # the dead-letter queue the state stack creates for the chat jobs
    state = yaml.safe_load((ROOT / "infra" / "cloudformation" / "state.yaml").read_text())
    queue = state["Resources"]["JobsQueue"]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"][
        "Fn::GetAtt"
    ][0]
    dlq = state["Resources"][queue]["Properties"]["QueueName"]["Fn::Sub"].replace("${Stage}", stage)
    (jobs,) = [a for a in alarms.values() if a["Namespace"] == "AWS/SQS"]
    assert jobs["Dimensions"] == [{"Name": "QueueName", "Value": dlq}]


def test_a_cluster_given_replaces_the_stage_and_no_mail_means_no_subscription():
    alarms = resolved_alarms(Stage="prod", Cluster="region-north")
    clusters = {d["Value"] for a in alarms.values() for d in a["Dimensions"] if d["Name"] == "cluster"}
    assert clusters == {"region-north"}
    doc = template()
    assert doc["Resources"]["AlarmEmailSubscription"]["Condition"] == "HasEmail"
    assert doc["Parameters"]["AlarmEmail"]["Default"] == ""
    # the slow-check threshold stays under the minute: past it the next check finds the lease held
    assert doc["Parameters"]["SlowTickSeconds"]["MaxValue"] <= 60


@needs_promtool
def test_promtool_checks_the_rules_and_runs_their_tests():
    folder = ROOT / "infra" / "prometheus"
    checked = subprocess.run(
        [PROMTOOL, "check", "rules", "alerts.yml"], cwd=folder, capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0 and "SUCCESS: 7 rules found" in checked.stdout, (
        checked.stdout + checked.stderr
    )
    tested = subprocess.run(
        [PROMTOOL, "test", "rules", "alerts_test.yml"], cwd=folder, capture_output=True, text=True, timeout=60
    )
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested.stdout + tested.stderr


@needs_promtool
def test_promtool_fails_a_rule_test_whose_expectation_is_wrong(tmp_path):
    """The rule tests can fail: the same tests with one expectation turned round fail under promtool."""
    folder = ROOT / "infra" / "prometheus"
    shutil.copy(folder / "alerts.yml", tmp_path / "alerts.yml")
    tests = yaml.safe_load((folder / "alerts_test.yml").read_text())
    (case,) = [c for c in tests["tests"] if c["name"].startswith("the load unknown")]
    case["alert_rule_test"][0]["exp_alerts"] = case["alert_rule_test"][1]["exp_alerts"]  # firing at 5 min
    (tmp_path / "alerts_test.yml").write_text(yaml.safe_dump(tests))
    tested = subprocess.run(
        [PROMTOOL, "test", "rules", "alerts_test.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert tested.returncode != 0 and "BbbscaleLoadUnknown" in tested.stdout + tested.stderr
