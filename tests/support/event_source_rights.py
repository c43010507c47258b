"""What each function of a `chalice package` SAM template needs from its role, and what its role lacks.

cfn-lint validates the template's syntax; it cannot know that Lambda refuses an SQS mapping whose role
cannot receive from the queue, or that a function invoking another needs lambda:InvokeFunction. This
reads each function's event sources and environment and checks its own role's policy statements:

- an SQS event source: sqs:ReceiveMessage, sqs:DeleteMessage, sqs:GetQueueAttributes on that queue;
- a schedule or the API: nothing (EventBridge and API Gateway get their own resource permissions);
- an environment variable naming another function of the app (`<app>-<stage>-<function>`, Chalice's
  deployed name, or `{"Ref": <its resource>}`, the name the template gives it, with the stack named
  `<app>-<stage>` as docs/deploy.md asks): lambda:InvokeFunction on that function;
- BBBSCALE_CHAT_DISPATCHER=sqs with BBBSCALE_JOBS_QUEUE: sqs:GetQueueUrl and sqs:SendMessage there;
- a function that ticks (`TICKING`: it reconciles the servers' DNS records and answers the fleet
  certificate's DNS-01 challenge) of a stage whose configuration sets `[dns] driver = "route53"`:
  route53:ListResourceRecordSets and route53:ChangeResourceRecordSets on the hosted zone, which the
  configuration must name by id (`hosted_zone_id`; found by name, no policy could name it), and
  route53:GetChange on its changes (a TXT set is waited for until INSYNC).

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


#: The functions that run a tick (app.py: `capacity_check` every minute, `chat_jobs` a follow-up check);
#: tests/integration/test_packaging.py finds them in app.py's calls and compares.
TICKING = ("capacity_check", "chat_jobs")
ROUTE53_ZONE = ("route53:ListResourceRecordSets", "route53:ChangeResourceRecordSets")
#: set_txt waits for its change to be INSYNC (adapters/dns/route53.py); a change's ARN names no zone.
ROUTE53_SYNC = "route53:GetChange"


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


def route53_zone(settings) -> tuple[str, str] | None:
    """(zone name, hosted zone id) when the stage's configuration (`settings`, or None) uses Route 53."""
    dns = getattr(settings, "dns", None)
    if dns is None or dns.driver != "route53":
        return None
    return dns.zone, str(dns.options.get("hosted_zone_id") or "")


def dns_needs(settings) -> list[Need]:
    """What a ticking function needs of the stage's Route 53 zone (nothing for another driver)."""
    zone = route53_zone(settings)
    if zone is None or not zone[1]:
        return []  # no zone id: missing_rights says to give one
    arn, why = f"arn:aws:route53:::hostedzone/{zone[1]}", f"[dns] route53 zone {zone[0]}"
    found = [Need(a, arn, why) for a in ROUTE53_ZONE]
    return [*found, Need(ROUTE53_SYNC, "arn:aws:route53:::change/C0123456789ABC", f"{why}: TXT sets in sync")]


def deployed_name(template: dict, logical: str, stack: str) -> str | None:
    """The name a function resource of the template is deployed under in stack `stack`: its
    FunctionName (a string or a Fn::Sub of the stack's name), or None when CloudFormation makes one up
    (`<stack>-<logical id>-<random>`, which no policy or caller can know beforehand)."""
    name = template["Resources"].get(logical, {}).get("Properties", {}).get("FunctionName")
    if name is None:
        return None
    return _sub(name).replace("${AWS::StackName}", stack)


def needs(
    function: dict,
    app_name: str,
    stage: str,
    all_functions: set[str],
    settings=None,
    template: dict | None = None,
) -> list[Need]:
    """Every right the function's event sources, environment and (for a function that ticks) the
    stage's configuration call for (`template`: to read the function a `{"Ref": ...}` names)."""
    found: list[Need] = dns_needs(settings) if handler_name(function) in TICKING else []
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


def missing_rights(template: dict, app_name: str, stage: str, settings=None) -> list[str]:
    """One line per right a function needs and its role lacks (empty: every event source will work).
    `settings`: the stage's fleet configuration (its `[dns]` driver adds rights to ticking functions)."""
    found = functions(template)
    problems = []
    zone = route53_zone(settings)
    if zone is not None and not zone[1]:
        problems.append(
            f"{stage}: [dns] route53 zone {zone[0]} is found by name: give [dns.options] hosted_zone_id, "
            "which the policies of the functions that tick can name"
        )
    for name, function in sorted(found.items()):
        granted = statements(template, function)
        for need in needs(function, app_name, stage, set(found), settings, template):
            if not allows(granted, need.action, need.resource):
                problems.append(f"{stage}/{name}: lacks {need.action} on {need.resource} ({need.why})")
    return problems
