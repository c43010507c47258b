"""infra/cloudformation/alarms.yaml read as CloudFormation would create it: its parameters given, each
alarm's properties resolved (Ref, Fn::Sub, Fn::If over the template's conditions), as the
PutMetricAlarm request CloudFormation sends for it. Only the intrinsics the template uses are known;
any other one fails loudly, so the template cannot outgrow this reading silently."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "cloudformation" / "alarms.yaml"


def template() -> dict:
    return yaml.safe_load(TEMPLATE.read_text())


def resolved_alarms(**parameters: str) -> dict[str, dict]:
    """{logical id: the alarm's properties, resolved} with these parameters (the rest their defaults).
    Resource references (the topic) resolve to `ref:<logical id>`."""
    doc = template()
    values = {name: str(spec.get("Default", "")) for name, spec in doc["Parameters"].items()}
    values |= parameters
    missing = [
        name for name, value in values.items() if value == "" and "Default" not in doc["Parameters"][name]
    ]
    assert not missing, f"parameters without a value: {missing}"

    def resolve(node):
        if isinstance(node, list):
            return [resolve(item) for item in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return _typed(doc, arg, values[arg]) if arg in values else f"ref:{arg}"
            if key == "Fn::Sub":
                return re.sub(r"\$\{([^}]+)\}", lambda m: values[m.group(1)], arg)
            if key == "Fn::If":
                name, yes, no = arg
                return resolve(yes if condition(name) else no)
            if key.startswith("Fn::"):
                raise AssertionError(f"tests/support/alarms.py does not read {key} yet")
        return {key: resolve(value) for key, value in node.items()}

    def condition(name: str) -> bool:
        return evaluate(doc["Conditions"][name])

    def evaluate(node) -> bool:
        ((key, arg),) = node.items()
        if key == "Fn::Not":
            return not evaluate(arg[0])
        if key == "Fn::Equals":
            left, right = (resolve(a) for a in arg)
            return str(left) == str(right)
        if key == "Condition":
            return condition(arg)
        raise AssertionError(f"tests/support/alarms.py does not read the condition {key} yet")

    return {
        logical: resolve(resource["Properties"])
        for logical, resource in doc["Resources"].items()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    }


def _typed(doc: dict, name: str, value: str):
    return float(value) if doc["Parameters"][name]["Type"] == "Number" else value
