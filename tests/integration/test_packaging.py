"""The AWS deployment: `chalice package` for both stages, cfn-lint on its SAM output and on the state
template, the table in the template equal to the code's, and IAM policies that grant only what the code
calls. `chalice package` needs a region but no credentials; it downloads Lambda wheels from PyPI (cached
under .chalice/deployments/ afterwards)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml
from packaging.utils import canonicalize_name

from chalicelib.adapters.state.dynamodb import table_definition
from tests.support.locks import read_lock

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CHALICE = shutil.which("chalice", path=str(BIN)) or shutil.which("chalice")
CFN_LINT = shutil.which("cfn-lint", path=str(BIN)) or shutil.which("cfn-lint")
STAGES = ("dev", "prod")
needs_chalice = pytest.mark.skipif(
    CHALICE is None, reason="the chalice CLI is not installed (pip install chalice)"
)


def package(stage: str, out: Path) -> dict:
    """The SAM template `chalice package --stage STAGE` writes, run without any AWS credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_DEFAULT_REGION="eu-west-3", AWS_SHARED_CREDENTIALS_FILE=os.devnull, AWS_CONFIG_FILE=os.devnull
    )
    done = subprocess.run(
        [CHALICE, "package", "--stage", stage, str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"chalice package --stage {stage} failed:\n{done.stdout}\n{done.stderr}"
    assert (out / "deployment.zip").stat().st_size > 0
    locked = {name: version for name, (version, _) in read_lock(ROOT / "requirements.txt").items()}
    assert shipped(out / "deployment.zip") == locked, "Lambda must ship the lock"
    return json.loads((out / "sam.json").read_text())


def shipped(deployment: Path) -> dict[str, str]:
    """{package: version} of every distribution bundled into the Lambda deployment package."""
    with zipfile.ZipFile(deployment) as archive:
        infos = {name.split("/")[0] for name in archive.namelist() if name.endswith(".dist-info/METADATA")}
    stems = (info.removesuffix(".dist-info").rsplit("-", 1) for info in infos)  # name-version
    return {canonicalize_name(name): version for name, version in stems}


def check_stage(stage: str, template: dict) -> None:
    resources = template["Resources"]
    check = resources["CapacityCheck"]["Properties"]
    assert check["Runtime"] == "python3.11" and check["ReservedConcurrentExecutions"] == 1
    assert check["Timeout"] == 240 and check["MemorySize"] >= 1024
    variables = check["Environment"]["Variables"]
    assert (
        variables["BBBSCALE_STATE_BACKEND"] == "dynamodb"
        and variables["BBBSCALE_STATE_TABLE"] == f"bbbscale-{stage}"
    )
    assert variables["POWERTOOLS_SERVICE_NAME"] == "bbbscale"
    roles = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::IAM::Role"]
    expected = json.loads((ROOT / ".chalice" / f"policy-{stage}.json").read_text())
    assert roles and all(role["Policies"][0]["PolicyDocument"] == expected for role in roles)


@needs_chalice
@pytest.mark.skipif(CFN_LINT is None, reason="cfn-lint is not installed")
def test_both_stages_package_as_configured_and_pass_cfn_lint(tmp_path):
    # One test, not one per stage: parallel workers must not run `chalice package` on one project at once
    # (it shares its wheel cache under .chalice/deployments/).
    for stage in STAGES:
        check_stage(stage, package(stage, tmp_path / stage))
    files = [str(tmp_path / stage / "sam.json") for stage in STAGES] + [
        str(ROOT / "infra/cloudformation/state.yaml")
    ]
    done = subprocess.run([CFN_LINT, *files], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_state_template_creates_the_table_the_code_expects():
    template = yaml.safe_load((ROOT / "infra/cloudformation/state.yaml").read_text())
    properties = dict(template["Resources"]["StateTable"]["Properties"])
    properties.pop("TableName")
    assert properties == table_definition()


# Every action a policy may grant, with the code that needs it: (file, text proving the call).
ALLOWED = {
    "logs:CreateLogGroup": None,  # the Lambda runtime writes the logs (and the EMF metrics in them)
    "logs:CreateLogStream": None,
    "logs:PutLogEvents": None,
    "dynamodb:GetItem": ("chalicelib/adapters/state/dynamodb.py", '"get_item"'),
    "dynamodb:PutItem": ("chalicelib/adapters/state/dynamodb.py", '"put_item"'),
    "dynamodb:UpdateItem": ("chalicelib/adapters/state/dynamodb.py", '"update_item"'),
    "dynamodb:DeleteItem": ("chalicelib/adapters/state/dynamodb.py", '"delete_item"'),
    "dynamodb:Query": ("chalicelib/adapters/state/dynamodb.py", '"query"'),
    "ssm:GetParameter": ("chalicelib/secrets.py", "SSMProvider"),
    "secretsmanager:GetSecretValue": ("chalicelib/secrets.py", "SecretsProvider"),
    "ec2:DescribeInstances": ("chalicelib/adapters/providers/ec2.py", '"describe_instances"'),
    "ec2:DescribeImages": ("chalicelib/adapters/providers/ec2.py", '"describe_images"'),
    "ec2:RunInstances": ("chalicelib/adapters/providers/ec2.py", '"run_instances"'),
    "ec2:CreateTags": ("chalicelib/adapters/providers/ec2.py", "TagSpecifications"),
    "ec2:StartInstances": ("chalicelib/adapters/providers/ec2.py", '"start_instances"'),
    "ec2:StopInstances": ("chalicelib/adapters/providers/ec2.py", '"stop_instances"'),
    "ec2:TerminateInstances": ("chalicelib/adapters/providers/ec2.py", '"terminate_instances"'),
}


@pytest.mark.parametrize("stage", STAGES)
def test_policies_grant_only_what_the_code_calls(stage):
    policy = json.loads((ROOT / ".chalice" / f"policy-{stage}.json").read_text())
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        for action in actions:
            assert action in ALLOWED, f"{stage}: {action} is not in the allowed list"
            evidence = ALLOWED[action]
            if evidence and (ROOT / evidence[0]).exists():
                assert evidence[1] in (ROOT / evidence[0]).read_text(), f"{action}: no call in {evidence[0]}"
        resources = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        if "*" in resources:  # only the Describe calls, which have no resource-level permissions
            assert all(a.split(":")[1].startswith("Describe") for a in actions)
        assert all(
            f"bbbscale/{stage}" in r or f"bbbscale-{stage}" in r
            for r in resources
            if r.startswith(("arn:aws:dynamodb", "arn:aws:ssm", "arn:aws:secretsmanager", "arn:aws:logs"))
        )
    granted = {
        a
        for s in policy["Statement"]
        for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    }
    assert {"dynamodb:PutItem", "ssm:GetParameter", "secretsmanager:GetSecretValue"} <= granted


@pytest.mark.parametrize("stage", STAGES)
def test_instances_are_touched_only_when_tagged_by_bbbscale(stage):
    policy = json.loads((ROOT / ".chalice" / f"policy-{stage}.json").read_text())
    for statement in policy["Statement"]:
        actions = set(statement["Action"])
        if actions & {"ec2:StartInstances", "ec2:StopInstances", "ec2:TerminateInstances"}:
            assert statement["Condition"] == {"Null": {"aws:ResourceTag/bbbscale:cluster": "false"}}
        if "ec2:CreateTags" in actions:
            assert statement["Condition"] == {"StringEquals": {"ec2:CreateAction": "RunInstances"}}
