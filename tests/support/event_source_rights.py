"""What each function of a `chalice package` SAM template needs from its role, and what its role lacks.

cfn-lint validates the template's syntax; it cannot know that Lambda refuses an SQS mapping whose role
cannot receive from the queue, or that a function invoking another needs lambda:InvokeFunction. This
reads each function's event sources and environment and checks its own role's policy statements:

- an SQS event source: sqs:ReceiveMessage, sqs:DeleteMessage, sqs:GetQueueAttributes on that queue;
- a schedule or the API: nothing (EventBridge and API Gateway get their own resource permissions);
- an environment variable naming another function of the app (`<app>-<stage>-<function>`, Chalice's
  deployed name, or `{"Ref": <its resource>}`, the name the template gives it, with the stack named
  `<app>-<stage>` as docs/deploy.md asks): lambda:InvokeFunction on that function;
- BBBSCALE_CHAT_DISPATCHER=sqs with BBBSCALE_JOBS_QUEUE: sqs:GetQueueUrl and sqs:SendMessage there.

Resources are matched the way IAM does for ARNs without conditions (`*`, `?` wildcards), with the
template's pseudo parameters replaced by a sample region and account.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

REGION, ACCOUNT = "eu-west-3", "123456789012"
SQS_CONSUMER = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
SQS_PRODUCER = ("sqs:GetQueueUrl", "sqs:SendMessage")
#: EC2 actions that create, change or destroy VMs (the API handler must have none of them).
VM_CHANGES = (
    "ec2:RunInstances",
    "ec2:TerminateInstances",
    "ec2:StartInstances",
    "ec2:StopInstances",
    "ec2:CreateTags",
    "ec2:ModifyInstanceAttribute",
)


@dataclass(frozen=True)
class Need:
    """One right a function needs, and why."""

    action: str
    resource: str
    why: str


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]


def _sub(value) -> str:
    """A template string ({"Fn::Sub": ...} or plain) with the pseudo parameters filled in."""
    text = value.get("Fn::Sub") if isinstance(value, dict) else value
    if not isinstance(text, str):
        raise ValueError(f"cannot read a resource name from {value!r}")
    for name, sample in (("AWS::Partition", "aws"), ("AWS::Region", REGION), ("AWS::AccountId", ACCOUNT)):
        text = text.replace("${" + name + "}", sample)
    return text


def handler_name(function: dict) -> str:
    """Chalice's function name from the handler (`app.app` is the API handler)."""
    handler = function["Properties"]["Handler"].split(".", 1)[1]
    return "api_handler" if handler == "app" else handler


def functions(template: dict) -> dict[str, dict]:
    """The template's Lambda functions by Chalice function name."""
    return {
        handler_name(resource): resource
        for resource in template["Resources"].values()
        if resource["Type"] in ("AWS::Serverless::Function", "AWS::Lambda::Function")
    }


def statements(template: dict, function: dict) -> list[dict]:
    """The policy statements of the function's own role (inline policies of the role it names)."""
    role = function["Properties"]["Role"]
    logical = role["Fn::GetAtt"][0] if isinstance(role, dict) else None
    if logical is None:
        return []
    properties = template["Resources"][logical]["Properties"]
    return [s for policy in properties.get("Policies", []) for s in policy["PolicyDocument"]["Statement"]]


def deployed_name(template: dict, logical: str, stack: str) -> str | None:
    """The name a function resource of the template is deployed under in stack `stack`: its
    FunctionName (a string or a Fn::Sub of the stack's name), or None when CloudFormation makes one up
    (`<stack>-<logical id>-<random>`, which no policy or caller can know beforehand)."""
    name = template["Resources"].get(logical, {}).get("Properties", {}).get("FunctionName")
    if name is None:
        return None
    return _sub(name).replace("${AWS::StackName}", stack)


def needs(
    function: dict, app_name: str, stage: str, all_functions: set[str], template: dict | None = None
) -> list[Need]:
    """Every right the function's event sources and environment call for (`template`: to read the
    function a `{"Ref": ...}` names)."""
    found: list[Need] = []
    properties = function["Properties"]
    for name, event in (properties.get("Events") or {}).items():
        if event["Type"] == "SQS":
            queue = _sub(event["Properties"]["Queue"])
            found += [Need(a, queue, f"SQS event source {name}") for a in SQS_CONSUMER]
    variables = (properties.get("Environment") or {}).get("Variables", {})
    for variable, value in variables.items():
        if isinstance(value, dict) and "Ref" in value and template is not None:
            value = deployed_name(template, value["Ref"], f"{app_name}-{stage}") or f"<{value['Ref']}>"
        for other in all_functions:
            if value == f"{app_name}-{stage}-{other}":
                arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{value}"
                found.append(Need("lambda:InvokeFunction", arn, f"{variable} names function {other}"))
    if variables.get("BBBSCALE_CHAT_DISPATCHER") == "sqs" and variables.get("BBBSCALE_JOBS_QUEUE"):
        queue = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{variables['BBBSCALE_JOBS_QUEUE']}"
        found += [
            Need(a, queue, "queues chat follow-ups (BBBSCALE_CHAT_DISPATCHER=sqs)") for a in SQS_PRODUCER
        ]
    return found


def allows(policy_statements: list[dict], action: str, resource: str) -> bool:
    """An Allow statement without conditions grants `action` on `resource` (no Deny is used here)."""
    for statement in policy_statements:
        if statement.get("Effect") != "Allow" or statement.get("Condition"):
            continue
        if any(fnmatchcase(action.lower(), a.lower()) for a in _listed(statement["Action"])) and any(
            fnmatchcase(resource, r) for r in _listed(statement["Resource"])
        ):
            return True
    return False


def grants_any(policy_statements: list[dict], actions: tuple[str, ...]) -> list[str]:
    """Which of `actions` some Allow statement grants at all (on any resource, under any condition)."""
    return [
        action
        for action in actions
        for statement in policy_statements
        if statement.get("Effect") == "Allow"
        and any(fnmatchcase(action.lower(), a.lower()) for a in _listed(statement["Action"]))
    ]


def missing_rights(template: dict, app_name: str, stage: str) -> list[str]:
    """One line per right a function needs and its role lacks (empty: every event source will work)."""
    found = functions(template)
    problems = []
    for name, function in sorted(found.items()):
        granted = statements(template, function)
        for need in needs(function, app_name, stage, set(found), template):
            if not allows(granted, need.action, need.resource):
                problems.append(f"{stage}/{name}: lacks {need.action} on {need.resource} ({need.why})")
    return problems
