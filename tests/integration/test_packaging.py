"""The AWS deployment: `chalice package` for both stages, cfn-lint on its SAM output and on the state
template, every event source with the rights it needs on its function's own role, one least-privilege
policy per function, the table in the template equal to the code's, and IAM policies that grant only
what the code calls. `chalice package` needs a region but no credentials; it downloads Lambda wheels
from PyPI (cached under .chalice/deployments/ afterwards).

Adding a function to app.py = one `.chalice/policy-<stage>-<function>.json` per AWS stage and one
`lambda_functions.<function>.iam_policy_file` entry in .chalice/config.json (docs/deploy.md);
`test_every_function_has_its_own_policy_in_every_aws_stage` says which is missing."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml
from packaging.utils import canonicalize_name

from chalicelib.adapters.state.dynamodb import table_definition
from chalicelib.bootstrap import with_environment
from chalicelib.config_file import load_settings
from tests.support import event_source_rights as rights
from tests.support.locks import read_lock

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CHALICE = shutil.which("chalice", path=str(BIN)) or shutil.which("chalice")
CFN_LINT = shutil.which("cfn-lint", path=str(BIN)) or shutil.which("cfn-lint")
STAGES = ("dev", "prod")
CONFIG = json.loads((ROOT / ".chalice" / "config.json").read_text())
needs_chalice = pytest.mark.skipif(
    CHALICE is None, reason="the chalice CLI is not installed (pip install chalice)"
)


def app_functions() -> set[str]:
    """Every Lambda function app.py defines, by Chalice's name for it."""
    import app as app_module

    app = app_module.app
    names = {source.name for source in app.event_sources} | {f.name for f in app.pure_lambda_functions}
    return names | ({"api_handler"} if app.routes else set())


def policy(stage: str, function: str) -> dict:
    return json.loads((ROOT / ".chalice" / f"policy-{stage}-{function}.json").read_text())


def stage_settings(stage: str):
    """The fleet configuration the stage deploys (BBBSCALE_CONFIG, relative to the project), with the
    stage's environment laid over it as the functions do (its BBBSCALE_CLUSTER, state settings)."""
    environment = CONFIG["stages"][stage]["environment_variables"]
    return with_environment(load_settings(ROOT / environment["BBBSCALE_CONFIG"]), environment)


#: What `chalice package` merges into its template (docs/deploy.md): the guard function's name and retries.
MERGE_TEMPLATE = "infra/sam/guard.json"


def package(stage: str, out: Path) -> dict:
    """The SAM template `chalice package --stage STAGE --merge-template infra/sam/guard.json` writes, run
    without any AWS credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BBBSCALE_"))}
    env.update(
        AWS_DEFAULT_REGION="eu-west-3", AWS_SHARED_CREDENTIALS_FILE=os.devnull, AWS_CONFIG_FILE=os.devnull
    )
    done = subprocess.run(
        [CHALICE, "package", "--stage", stage, "--merge-template", MERGE_TEMPLATE, str(out)],
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
    assert simulator_files(out / "deployment.zip") == [], "Lambda must not ship the simulator"
    return json.loads((out / "sam.json").read_text())


def shipped(deployment: Path) -> dict[str, str]:
    """{package: version} of every distribution bundled into the Lambda deployment package."""
    with zipfile.ZipFile(deployment) as archive:
        infos = {name.split("/")[0] for name in archive.namelist() if name.endswith(".dist-info/METADATA")}
    stems = (info.removesuffix(".dist-info").rsplit("-", 1) for info in infos)  # name-version
    return {canonicalize_name(name): version for name, version in stems}


def simulator_files(deployment: Path) -> list[str]:
    """The simulator's files in a deployment package (issue 21: it stays beside production, bbbsim/, and
    Lambda gets app.py and chalicelib/ only): its package, or any file of the old chalicelib/sim/."""
    with zipfile.ZipFile(deployment) as archive:
        names = archive.namelist()
    assert "app.py" in names and "chalicelib/plugins.py" in names  # the production side is there
    return sorted(n for n in names if n.startswith(("bbbsim/", "chalicelib/sim/")) or "/bbbsim/" in n)


def test_the_simulator_check_finds_a_simulator_file(tmp_path):
    """The package check above can fail: a made-up package with the simulator in it is caught."""
    made_up = tmp_path / "deployment.zip"
    with zipfile.ZipFile(made_up, "w") as archive:
        for name in ("app.py", "chalicelib/plugins.py", "bbbsim/world.py", "chalicelib/cli.py"):
            archive.writestr(name, "")
    assert simulator_files(made_up) == ["bbbsim/world.py"]


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
    found = rights.functions(template)
    assert set(found) == app_functions()
    roles = {name: function["Properties"]["Role"]["Fn::GetAtt"][0] for name, function in found.items()}
    assert len(set(roles.values())) == len(roles), f"{stage}: functions share a role: {roles}"
    for name, role in roles.items():
        assert resources[role]["Properties"]["Policies"][0]["PolicyDocument"] == policy(stage, name)
    [source] = resources["ChatJobs"]["Properties"]["Events"].values()
    assert source["Properties"]["Queue"]["Fn::Sub"].endswith(f":bbbscale-{stage}-jobs")  # the stage's own
    assert rights.missing_rights(template, "bbbscale", stage, stage_settings(stage)) == []
    api = rights.statements(template, found["api_handler"])
    assert rights.grants_any(api, rights.VM_CHANGES) == [], f"{stage}: the API handler may change VMs"
    check_guard_function(stage, template)


def check_guard_function(stage: str, template: dict) -> None:
    """capacity_check starts the very function the template deploys (not a name Chalice's own deploy
    would give: CloudFormation names an unnamed one `<stack>-BurstGuard-<random>`), under the name its
    policy grants; the function gets no asynchronous retry, and room for the next run to wait for the
    guard lease while the current one ends (service/guard_function.py)."""
    resources = template["Resources"]
    [(logical, _)] = [
        (k, r) for k, r in resources.items() if r["Properties"].get("Handler") == "app.burst_guard"
    ]
    guard = resources[logical]["Properties"]
    started = resources["CapacityCheck"]["Properties"]["Environment"]["Variables"]["BBBSCALE_GUARD_FUNCTION"]
    assert started == {"Ref": logical}, (
        f"{stage}: capacity_check must invoke the function the template deploys"
    )
    name = rights.deployed_name(template, logical, f"bbbscale-{stage}")
    assert (
        name
        == CONFIG["stages"][stage]["lambda_functions"]["capacity_check"]["environment_variables"][
            "BBBSCALE_GUARD_FUNCTION"
        ]
    ), f"{stage}: the SAM stack and `chalice deploy` name the guard function alike"
    assert name == f"bbbscale-{stage}-burst_guard"
    assert guard["EventInvokeConfig"]["MaximumRetryAttempts"] == 0, "a retried run looks at a finished burst"
    assert 60 <= guard["EventInvokeConfig"]["MaximumEventAgeInSeconds"] <= 300
    assert guard["ReservedConcurrentExecutions"] == 2 and guard["Timeout"] == 900


@needs_chalice
@pytest.mark.skipif(CFN_LINT is None, reason="cfn-lint is not installed")
def test_both_stages_package_with_the_rights_their_event_sources_need_and_pass_cfn_lint(tmp_path):
    # One test, not one per stage: parallel workers must not run `chalice package` on one project at once
    # (it shares its wheel cache under .chalice/deployments/).
    for stage in STAGES:
        check_stage(stage, package(stage, tmp_path / stage))
    files = [str(tmp_path / stage / "sam.json") for stage in STAGES]
    files += [str(path) for path in sorted((ROOT / "infra" / "cloudformation").glob("*.yaml"))]
    done = subprocess.run([CFN_LINT, *files], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("stage", STAGES)
def test_every_function_has_its_own_policy_in_every_aws_stage(stage):
    config = CONFIG["stages"][stage]
    assert config["autogen_policy"] is False and "iam_policy_file" not in config
    for function in sorted(app_functions()):
        entry = config.get("lambda_functions", {}).get(function, {})
        named = f"policy-{stage}-{function}.json"
        assert entry.get("iam_policy_file") == named, (
            f'add "lambda_functions": {{"{function}": {{"iam_policy_file": "{named}"}}}} to stage {stage}'
        )
        assert (ROOT / ".chalice" / named).exists(), f"write .chalice/{named} (docs/deploy.md)"


@pytest.mark.parametrize("function", sorted(app_functions()))
def test_prod_policies_are_dev_policies_for_the_prod_resources(function):
    dev = json.dumps(policy("dev", function))
    assert json.loads(re.sub(r"\bdev\b", "prod", dev)) == policy("prod", function)


def test_each_stage_has_its_own_jobs_queue_and_the_state_stack_creates_it():
    template = yaml.safe_load((ROOT / "infra/cloudformation/state.yaml").read_text())
    queue = template["Resources"]["JobsQueue"]["Properties"]
    assert queue["QueueName"] == {"Fn::Sub": "bbbscale-${Stage}-jobs"}
    dead = queue["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    assert template["Resources"][dead]["Type"] == "AWS::SQS::Queue"
    chat_timeout = {CONFIG["stages"][s]["lambda_functions"]["chat_jobs"]["lambda_timeout"] for s in STAGES}
    assert queue["VisibilityTimeout"] >= 6 * max(chat_timeout)  # AWS's advice for Lambda event sources
    names = {CONFIG["stages"][s]["environment_variables"]["BBBSCALE_JOBS_QUEUE"] for s in STAGES}
    assert names == {"bbbscale-dev-jobs", "bbbscale-prod-jobs"}


def test_the_state_template_creates_the_table_the_code_expects():
    template = yaml.safe_load((ROOT / "infra/cloudformation/state.yaml").read_text())
    properties = dict(template["Resources"]["StateTable"]["Properties"])
    properties.pop("TableName")
    assert properties == table_definition()


def test_the_local_stage_needs_no_aws():
    local = CONFIG["stages"]["local"]["environment_variables"]
    assert local["BBBSCALE_STATE_BACKEND"] == "sqlite" and local["BBBSCALE_CHAT_DISPATCHER"] == "thread"
    assert not any(name.startswith(("AWS_", "BBBSCALE_SSM", "BBBSCALE_SECRETS")) for name in local)


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
    "secretsmanager:PutSecretValue": ("chalicelib/adapters/certificates.py", "put_secret_value"),
    "sqs:GetQueueUrl": ("chalicelib/adapters/chat/dispatch.py", "get_queue_url"),
    "sqs:SendMessage": ("chalicelib/adapters/chat/dispatch.py", "send_message"),
    "sqs:ReceiveMessage": None,  # Lambda's event source mapping polls the queue with the function's role
    "sqs:DeleteMessage": None,
    "sqs:GetQueueAttributes": None,
    "lambda:InvokeFunction": ("app.py", "invoke"),  # a function starting another one
    "ec2:DescribeInstances": ("chalicelib/adapters/providers/ec2.py", '"describe_instances"'),
    "ec2:DescribeImages": ("chalicelib/adapters/providers/ec2.py", '"describe_images"'),
    "ec2:RunInstances": ("chalicelib/adapters/providers/ec2.py", '"run_instances"'),
    "ec2:CreateTags": ("chalicelib/adapters/providers/ec2.py", "TagSpecifications"),
    "ec2:StartInstances": ("chalicelib/adapters/providers/ec2.py", '"start_instances"'),
    "ec2:StopInstances": ("chalicelib/adapters/providers/ec2.py", '"stop_instances"'),
    "ec2:TerminateInstances": ("chalicelib/adapters/providers/ec2.py", '"terminate_instances"'),
    "route53:ListHostedZonesByName": ("chalicelib/adapters/dns/route53.py", '"list_hosted_zones_by_name"'),
    "route53:ListResourceRecordSets": ("chalicelib/adapters/dns/route53.py", '"list_resource_record_sets"'),
    "route53:GetChange": ("chalicelib/adapters/dns/route53.py", '"get_change"'),
    "route53:ChangeResourceRecordSets": (
        "chalicelib/adapters/dns/route53.py",
        '"change_resource_record_sets"',
    ),
}
#: Actions without resource-level permissions: the only ones a policy may grant on "*".
NO_RESOURCE = ("ec2:Describe", "route53:ListHostedZonesByName")
ARNS_OF_THE_STAGE = (
    "arn:aws:dynamodb",
    "arn:aws:ssm",
    "arn:aws:secretsmanager",
    "arn:aws:logs",
    "arn:aws:sqs",
)
ARNS_OF_THE_STAGE += ("arn:aws:lambda",)
POLICIES = [(stage, function) for stage in STAGES for function in sorted(app_functions())]


@pytest.mark.parametrize(("stage", "function"), POLICIES)
def test_policies_grant_only_what_the_code_calls(stage, function):
    for statement in policy(stage, function)["Statement"]:
        assert statement["Effect"] == "Allow"
        actions = rights._listed(statement["Action"])
        for action in actions:
            assert action in ALLOWED, f"{stage}/{function}: {action} is not in the allowed list"
            evidence = ALLOWED[action]
            if evidence and (ROOT / evidence[0]).exists():
                assert evidence[1] in (ROOT / evidence[0]).read_text(), f"{action}: no call in {evidence[0]}"
        resources = rights._listed(statement["Resource"])
        if "*" in resources:  # only the calls which have no resource-level permissions
            assert all(a.startswith(NO_RESOURCE) for a in actions)
        assert all(
            f"bbbscale/{stage}" in r or f"bbbscale-{stage}" in r
            for r in resources
            if r.startswith(ARNS_OF_THE_STAGE)
        )


@pytest.mark.parametrize(("stage", "function"), POLICIES)
def test_vms_are_touched_only_when_tagged_with_the_stage_cluster_and_from_configured_images(stage, function):
    settings = stage_settings(stage)
    images = {
        f"arn:aws:ec2:{p.options.get('region', '*')}::image/{p.image}"
        for p in settings.providers.values()
        if p.kind == "ec2"
    }
    named = [
        p.image for p in settings.providers.values() if p.kind == "ec2" and not p.image.startswith("ami-")
    ]
    assert not named, f"{stage}: give EC2 images as AMI ids, which a policy can name: {named}"
    cluster, launched_from, may_launch = settings.cluster, set(), False
    for statement in policy(stage, function)["Statement"]:
        actions, resources = set(statement["Action"]), rights._listed(statement["Resource"])
        if actions & {"ec2:StartInstances", "ec2:StopInstances", "ec2:TerminateInstances"}:
            assert statement["Condition"] == {"StringEquals": {"aws:ResourceTag/bbbscale:cluster": cluster}}
        if "ec2:CreateTags" in actions:
            assert statement["Condition"] == {"StringEquals": {"ec2:CreateAction": "RunInstances"}}
        if "ec2:RunInstances" in actions:
            created = [r for r in resources if r.split(":")[-1].startswith(("instance/", "volume/"))]
            launched_from |= {r for r in resources if ":image/" in r}
            may_launch = True
            if created:  # a VM is created only with the cluster's tag ...
                tagged = {"aws:RequestTag/bbbscale:cluster": cluster}
                if any(r.split(":")[-1].startswith("instance/") for r in created):
                    # ... and an instance only with IMDSv2 required, hop limit 1 (ec2.METADATA_OPTIONS)
                    assert statement["Condition"]["StringEquals"] == {
                        **tagged,
                        "ec2:MetadataHttpTokens": "required",
                    }
                    hops = statement["Condition"]["NumericLessThanEquals"]
                    assert hops == {"ec2:MetadataHttpPutResponseHopLimit": "1"}
                else:
                    assert statement["Condition"]["StringEquals"] == tagged
    if may_launch:  # exactly the configured images: no other, and none missing (RunInstances would fail)
        assert launched_from == images, (
            f"{stage}/{function}: images granted {launched_from}, configured {images}"
        )
    if function == "api_handler":
        assert rights.grants_any(policy(stage, function)["Statement"], rights.VM_CHANGES) == []


def sam(function: dict, statements: list[dict], functions: dict | None = None) -> dict:
    """A minimal template: `function` (Chalice function name -> properties) with a role of `statements`."""
    resources = {}
    for name, properties in (functions or {"chat_jobs": function}).items():
        resources[f"{name}Role"] = {
            "Type": "AWS::IAM::Role",
            "Properties": {"Policies": [{"PolicyDocument": {"Statement": statements}}]},
        }
        resources[name] = {
            "Type": "AWS::Serverless::Function",
            "Properties": {
                "Handler": f"app.{name}",
                "Role": {"Fn::GetAtt": [f"{name}Role", "Arn"]},
                **properties,
            },
        }
    return {"Resources": resources}


SQS_SOURCE = {
    "Events": {
        "ChatJobsSqsEventSource": {
            "Type": "SQS",
            "Properties": {
                "Queue": {"Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:q1"}
            },
        }
    }
}


def test_the_rights_check_finds_an_sqs_source_whose_role_cannot_read_the_queue():
    without = [s for s in policy("dev", "chat_jobs")["Statement"] if not s["Action"][0].startswith("sqs:")]
    problems = rights.missing_rights(sam(SQS_SOURCE, without), "bbbscale", "dev")
    assert [p.split(" on ")[0] for p in problems] == [
        "dev/chat_jobs: lacks sqs:ReceiveMessage",
        "dev/chat_jobs: lacks sqs:DeleteMessage",
        "dev/chat_jobs: lacks sqs:GetQueueAttributes",
    ]
    other_queue = [{"Effect": "Allow", "Action": list(rights.SQS_CONSUMER), "Resource": "arn:aws:sqs:*:*:q2"}]
    assert len(rights.missing_rights(sam(SQS_SOURCE, other_queue), "bbbscale", "dev")) == 3
    right_queue = [{"Effect": "Allow", "Action": list(rights.SQS_CONSUMER), "Resource": "arn:aws:sqs:*:*:q1"}]
    assert rights.missing_rights(sam(SQS_SOURCE, right_queue), "bbbscale", "dev") == []


def test_the_rights_check_finds_a_function_that_cannot_invoke_the_one_it_names():
    caller = {"Environment": {"Variables": {"BURST_GUARD": "bbbscale-dev-burst_guard"}}}
    functions = {"capacity_check": caller, "burst_guard": {}}
    problems = rights.missing_rights(sam({}, [], functions), "bbbscale", "dev")
    assert problems == [
        "dev/capacity_check: lacks lambda:InvokeFunction on "
        "arn:aws:lambda:eu-west-3:123456789012:function:bbbscale-dev-burst_guard (BURST_GUARD names function "
        "burst_guard)"
    ]
    granted = [
        {
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": "arn:aws:lambda:*:*:function:bbbscale-dev-*",
        }
    ]
    assert rights.missing_rights(sam({}, granted, functions), "bbbscale", "dev") == []
    schedule_only = {"Events": {"Every": {"Type": "Schedule", "Properties": {"Schedule": "rate(1 minute)"}}}}
    assert rights.missing_rights(sam(schedule_only, []), "bbbscale", "dev") == []


def test_the_rights_check_reads_the_function_a_ref_names():
    caller = {"Environment": {"Variables": {"BBBSCALE_GUARD_FUNCTION": {"Ref": "burst_guard"}}}}
    named = {"FunctionName": {"Fn::Sub": "${AWS::StackName}-burst_guard"}}
    template = sam({}, [], {"capacity_check": caller, "burst_guard": named})
    assert rights.deployed_name(template, "burst_guard", "bbbscale-dev") == "bbbscale-dev-burst_guard"
    assert rights.missing_rights(template, "bbbscale", "dev") == [
        "dev/capacity_check: lacks lambda:InvokeFunction on "
        "arn:aws:lambda:eu-west-3:123456789012:function:bbbscale-dev-burst_guard (BBBSCALE_GUARD_FUNCTION "
        "names function burst_guard)"
    ]
    unnamed = sam({}, [], {"capacity_check": caller, "burst_guard": {}})
    assert rights.deployed_name(unnamed, "burst_guard", "bbbscale-dev") is None  # CloudFormation's own name
