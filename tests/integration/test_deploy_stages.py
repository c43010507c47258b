"""What a deployment must get right beyond `chalice package` (docs/deploy.md): each AWS stage runs its own
cluster (BBBSCALE_CLUSTER), every function that ticks may read and change a Route 53 zone when the
stage's `[dns]` names one (and the rights check fails when it may not), and SQLite's side files never
reach git. The packaged templates themselves are checked in test_packaging.py."""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess

import pytest

from chalicelib.bootstrap import with_environment
from chalicelib.config import ConfigError
from chalicelib.config_file import parse_settings
from tests.integration.test_packaging import ROOT, STAGES, app_functions, policy, sam, stage_settings
from tests.support import event_source_rights as rights

ZONE_ID = "Z0123456789ABCDEFGHIJ"
PROVIDERS = {"cheap": {"kind": "simulated"}}


def test_each_aws_stage_runs_its_own_cluster_and_its_policies_name_it():
    clusters = {stage: stage_settings(stage).cluster for stage in STAGES}
    assert len(set(clusters.values())) == len(STAGES), f"stages share a cluster: {clusters}"
    assert "demo" not in clusters.values()  # the local stage's (the built-in configuration's)
    for stage in STAGES:
        for function in sorted(app_functions()):
            text = json.dumps(policy(stage, function))
            tagged = set(re.findall(r'"aws:(?:Request|Resource)Tag/bbbscale:cluster": "([^"]+)"', text))
            assert tagged <= {clusters[stage]}, f"{stage}/{function} names cluster {tagged}"


def test_the_environment_names_the_cluster_and_a_bad_one_is_one_error():
    settings = parse_settings({"cluster": "demo", "providers": PROVIDERS})
    assert with_environment(settings, {}).cluster == "demo"
    assert with_environment(settings, {"BBBSCALE_CLUSTER": "prod"}).cluster == "prod"
    with pytest.raises(ConfigError, match="cluster"):
        with_environment(settings, {"BBBSCALE_CLUSTER": "Prod Fleet"})


def ticking_functions() -> set[str]:
    """The app's functions whose handler reaches a `.tick(` call (through app.py's own helpers)."""
    tree = ast.parse((ROOT / "app.py").read_text())
    defs = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}

    def calls(node) -> tuple[set[str], bool]:
        names, ticks = set(), False
        for sub in ast.walk(node):
            if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name):
                names.add(sub.func.id)
            if isinstance(sub, ast.Attribute) and sub.attr == "tick":
                ticks = True
        return names, ticks

    def reaches(name: str, seen: set[str]) -> bool:
        names, ticks = calls(defs[name])
        return ticks or any(reaches(n, seen | {n}) for n in names - seen if n in defs)

    def chalice_name(node) -> str:
        for decorator in node.decorator_list:
            for keyword in getattr(decorator, "keywords", []):
                if keyword.arg == "name":
                    return keyword.value.value
        return node.name

    return {
        chalice_name(node) for name, node in defs.items() if node.decorator_list and reaches(name, {name})
    }


def test_the_ticking_functions_are_the_ones_app_py_ticks_in():
    assert set(rights.TICKING) == ticking_functions() == {"capacity_check", "chat_jobs"}


def documented_route53_statements() -> list[dict]:
    text = (ROOT / "docs" / "deploy.md").read_text()
    section = text[text.index("### With Route 53") :]
    return json.loads(section.split("```json", 1)[1].split("```", 1)[0])


def route53_stage(**options):
    return parse_settings(
        {
            "cluster": "dev",
            "providers": PROVIDERS,
            "dns": {"driver": "route53", "zone": "bbb.example.org", "options": options},
        }
    )


def stage_template(extra: dict[str, list[dict]] | None = None) -> dict:
    """A template of the app's functions, each with its dev policy (plus `extra` statements)."""
    functions = {name: {} for name in app_functions()}
    template = sam({}, [], functions)
    for name in functions:
        statements = policy("dev", name)["Statement"] + (extra or {}).get(name, [])
        template["Resources"][f"{name}Role"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"] = (
            statements
        )
    return template


def test_a_route53_stage_without_the_rights_fails_the_check_in_every_function_that_ticks():
    problems = rights.missing_rights(
        stage_template(), "bbbscale", "dev", route53_stage(hosted_zone_id=ZONE_ID)
    )
    lacking = {(p.split(":")[0], p.split("lacks ")[1].split(" ")[0]) for p in problems}
    assert lacking == {
        (f"dev/{function}", action)
        for function in rights.TICKING
        for action in (*rights.ROUTE53_ZONE, rights.ROUTE53_SYNC)
    }
    assert (
        rights.missing_rights(stage_template(), "bbbscale", "dev", parse_settings({"providers": PROVIDERS}))
        == []
    )


def test_a_route53_zone_found_by_name_fails_the_check():
    documented = stage_template({name: documented_route53_statements() for name in rights.TICKING})
    [problem] = rights.missing_rights(documented, "bbbscale", "dev", route53_stage())
    assert "give [dns.options] hosted_zone_id" in problem


def test_the_documented_route53_statement_is_what_the_check_asks():
    documented = documented_route53_statements()
    for statement in documented:
        statement["Resource"] = statement["Resource"].replace("Z0123456789ABCDEFGHIJ", ZONE_ID)
    granted = stage_template(dict.fromkeys(rights.TICKING, documented))
    assert rights.missing_rights(granted, "bbbscale", "dev", route53_stage(hosted_zone_id=ZONE_ID)) == []
    other_zone = [{**documented[0], "Resource": "arn:aws:route53:::hostedzone/ZOTHER"}, documented[1]]
    wrong = stage_template(dict.fromkeys(rights.TICKING, other_zone))
    assert len(rights.missing_rights(wrong, "bbbscale", "dev", route53_stage(hosted_zone_id=ZONE_ID))) == 4
    only_one = stage_template({"capacity_check": documented})  # chat_jobs ticks too
    [problem, _, _] = rights.missing_rights(
        only_one, "bbbscale", "dev", route53_stage(hosted_zone_id=ZONE_ID)
    )
    assert problem.startswith("dev/chat_jobs: lacks route53:")


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_sqlite_side_files_are_ignored():
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    names = [
        "bbbscale.sqlite3",
        "bbbscale.sqlite3-wal",
        "bbbscale.sqlite3-shm",
        "state.db-wal",
        "state.db-shm",
    ]
    done = subprocess.run(
        ["git", "check-ignore", "--no-index", *names], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert done.stdout.split() == names
