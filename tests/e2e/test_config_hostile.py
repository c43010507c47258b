"""Hostile configurations (issue 23, item 6): each is refused at load, in one line naming the field, exit
2, before any call or write. Before: `inf` was accepted for boot_minutes, capacity_units, headroom.units,
stabilization_minutes and forget_after_hours (then OverflowError after reconciliation wrote records),
lease seconds of 1e12 crashed, `read_timeout = inf` printed a 25-line traceback, a non-UTF-8 file
exited 1, `interval_minutes = "1"` was accepted, and `headroom.units = 1e300` started VMs up to the
quota."""

from __future__ import annotations

import annotated_types
import pytest
from pydantic import BaseModel

import chalicelib.config as config_module
from chalicelib.config_bounds import CEILINGS
from tests.support.cli_runs import config_file, run_main

INF = "inf"
CASES = [
    (
        {"boot_minutes = 5": f"boot_minutes = {INF}"},
        "",
        "providers.gandi.boot_minutes: Input should be a finite number",
    ),
    (
        {"capacity_units = 300\nhourly_cost = 0.45": "capacity_units = inf\nhourly_cost = 0.45"},
        "",
        "providers.gandi.capacity_units: Input should be a finite number",
    ),
    ({"units = 300": "units = inf"}, "", "headroom.units: Input should be a finite number"),
    ({"units = 300": "units = nan"}, "", "headroom.units: Input should be a finite number"),
    ({"units = 300": "units = 1e300"}, "", "headroom.units: Input should be less than or equal to 15000"),
    (
        {},
        "[lifecycle]\nstabilization_minutes = inf\n",
        "lifecycle.stabilization_minutes: Input should be a finite number",
    ),
    (
        {},
        "[lifecycle]\nforget_after_hours = inf\n",
        "lifecycle.forget_after_hours: Input should be a finite number",
    ),
    ({}, "[lifecycle]\nlease_seconds = 1e12\n", "lifecycle.lease_seconds: Input should be a valid integer"),
    (
        {},
        "[lifecycle]\nlease_seconds = 1000000000000\n",
        "lifecycle.lease_seconds: Input should be less than or equal to 3600",
    ),
    (
        {
            'url = "http://127.0.0.1:0/bigbluebutton/api"': 'url = "http://127.0.0.1:0/bigbluebutton/api"\nread_timeout = inf'
        },
        "",
        "scalelite.read_timeout: Input should be a finite number",
    ),
    (
        {"interval_minutes = 1": 'interval_minutes = "1"'},
        "",
        "interval_minutes: Input should be a valid integer",
    ),
    ({"quota = 150": 'quota = "150"'}, "", "providers.gandi.quota: Input should be a valid integer"),
    ({"quota = 150": "quota = true"}, "", "providers.gandi.quota: Input should be a valid integer"),
]


@pytest.mark.parametrize(
    "replace, append, words", CASES, ids=[c[2].split(":")[0] + "-" + str(i) for i, c in enumerate(CASES)]
)
def test_a_hostile_value_is_refused_in_one_line_naming_the_field(tmp_path, capsys, replace, append, words):
    path = config_file(tmp_path, replace=replace)
    if append:
        path.write_text(path.read_text(encoding="utf-8") + "\n" + append, encoding="utf-8")
    outcome = run_main(capsys, "tick", "--dry-run", "--config", str(path))
    outcome.assert_failed(2, words)
    assert not (tmp_path / "bbbscale.sqlite3").exists(), "nothing may be written before the refusal"


def test_a_file_that_is_not_utf8_exits_2_in_one_line(tmp_path, capsys):
    path = tmp_path / "latin1.toml"
    path.write_bytes(
        config_file(tmp_path)
        .read_bytes()
        .replace(b'currency = "EUR"', 'currency = "€uro"'.encode("latin-1", "replace"))
        + b"\n# caf\xe9\n"
    )
    run_main(capsys, "plan", "--users", "10", "--config", str(path)).assert_failed(2, "not UTF-8 text")


def test_a_scalelite_url_with_an_impossible_port_is_a_usage_error(capsys):
    outcome = run_main(
        capsys, "load", "--scalelite", "http://127.0.0.1:99999/bigbluebutton/api", "--secret", "x"
    )
    outcome.assert_failed(2, "--scalelite: not a URL: Port out of range")


def _numeric_fields():
    """Every numeric field of the settings models config.py names (its own and its sections', which live
    beside it in config_*.py)."""
    for name in dir(config_module):
        model = getattr(config_module, name)
        if (
            isinstance(model, type)
            and issubclass(model, BaseModel)
            and model.__module__.startswith(config_module.__name__)
        ):
            for field, info in model.model_fields.items():
                if info.annotation in (int, float):
                    yield model, field, info


def test_every_numeric_setting_has_a_ceiling_and_refuses_infinity():
    """A new numeric setting without an upper bound fails here: add it to config_bounds.CEILINGS."""
    unbounded = [
        f"{model.__name__}.{field}"
        for model, field, info in _numeric_fields()
        if not any(isinstance(m, (annotated_types.Le, annotated_types.Lt)) for m in info.metadata)
    ]
    assert unbounded == []
    assert set(CEILINGS) <= {m.__name__ for m, _, _ in _numeric_fields()}
    for model, _, _ in _numeric_fields():
        assert model.model_config.get("allow_inf_nan") is False and model.model_config.get("strict") is True


def test_weekday_tables_still_load_from_toml(tmp_path):
    """TOML table keys are strings: strict numbers must not refuse a timetable's weekday "0"."""
    from chalicelib.config_file import load_settings

    path = config_file(tmp_path)
    path.write_text(
        path.read_text(encoding="utf-8")
        + '\n[forecast]\nhalf_days = {2 = "12:00"}\n[forecast.timetable]\nstarts = {0 = ["08:00"], 1 = ["08:00"]}\n',
        encoding="utf-8",
    )
    settings = load_settings(path)
    assert settings.forecast.timetable.starts == {0: ["08:00"], 1: ["08:00"]}
    assert settings.forecast.half_days == {2: "12:00"}
