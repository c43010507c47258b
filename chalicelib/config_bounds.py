"""The ceiling of every numeric setting, in one table (issue 23: `inf`, 1e12 lease seconds or
`headroom.units = 1e300` were accepted, then crashed a tick or started VMs up to the quota).

Infinities and NaNs are refused by the models' configuration (`allow_inf_nan=False`) and strings or
booleans where a number belongs by its strict mode; these ceilings refuse what is finite but absurd,
each far above any real fleet's value, with pydantic's own message naming the field ("Input should be
less than or equal to ..."). `tests/unit/test_config_bounds.py` fails when a numeric setting has none.
"""

from __future__ import annotations

DAY_MINUTES = 24 * 60
WEEK_MINUTES = 7 * DAY_MINUTES

#: model name -> {field: the most it may be}
CEILINGS: dict[str, dict[str, float]] = {
    "LoadWeights": {
        "room": 10_000,
        "participant": 1_000,
        "voice": 1_000,
        "listen_only": 1_000,
        "webcam": 1_000,
        "delivered_webcam": 1_000,
        "young_room_minutes": 240,
        "young_room_participants": 100_000,
    },
    # 50 reference servers (300 units each) of margin: more is not headroom but a fleet
    "Headroom": {"units": 15_000},
    "ProviderSettings": {
        "capacity_units": 1_000_000,
        "hourly_cost": 1_000_000,
        "min_servers": 100_000,
        "max_servers": 100_000,
        "quota": 100_000,
        "priority": 1_000_000,
        "boot_minutes": 240,
        "max_provision_minutes": DAY_MINUTES,
        "max_surge": 10_000,
    },
    "ScaleliteSettings": {
        "connect_timeout": 300,
        "read_timeout": 600,
        # the memory budget (<= 100 MB whatever the shape) was measured at the 256 MiB default
        "max_response_bytes": 1 << 30,
        "meetings_direct_minutes": DAY_MINUTES,
    },
    "LifecycleSettings": {
        "stabilization_minutes": DAY_MINUTES,
        "scale_in_window_minutes": DAY_MINUTES,
        "drain_report_minutes": WEEK_MINUTES,
        "recording_max_wait_minutes": WEEK_MINUTES,
        "max_age_days": 365,
        "refresh_batch": 1_000,
        "offline_ticks_before_replace": 1_000,
        "backoff_base_minutes": DAY_MINUTES,
        "backoff_max_minutes": WEEK_MINUTES,
        "failures_before_backoff": 1_000,
        "lease_seconds": 3_600,
        "forget_after_hours": 24 * 365,
        "destroy_stopped_after_hours": 24 * 365,
    },
    "GuardSettings": {"surge_load_per_minute": 1_000_000, "min_enabled": 10_000},
    "StateSettings": {"history_days": 3_650},
    "TimetableSettings": {"margin_minutes": 240},
    "ForecastSettings": {
        "history_weeks": 52,
        "history_factor": 10,
        "min_history_days": 365,
        "cold_start_users": 10_000_000,
    },
    "UserMix": {"room_size": 10_000},
}


def apply(models: dict) -> None:
    """Add each ceiling to its field (`models`: name -> pydantic model class) and rebuild the models,
    innermost first, so the outer ones validate with the new bounds."""
    import annotated_types

    for name, ceilings in CEILINGS.items():
        model = models[name]
        for field, most in ceilings.items():
            model.model_fields[field].metadata.append(annotated_types.Le(most))
    for name in CEILINGS:
        models[name].model_rebuild(force=True)
    models["Settings"].model_rebuild(force=True)
