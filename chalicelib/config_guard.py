"""The `[guard]` section: the burst guard's settings (chalicelib/domain/guard.py, chalicelib/service/guard.py)."""

from __future__ import annotations

from pydantic import Field, model_validator

from chalicelib.config_strict import Strict


class GuardSettings(Strict):
    """The burst guard (chalicelib/domain/guard.py): around class starts and surges, a fast loop that
    cordons servers Scalelite would herd a burst onto and enables them again once they have room."""

    enabled: bool = True
    act: bool = Field(
        True, description="false: only look and measure the spread after each burst, change nothing"
    )
    threshold: float = Field(
        0.9, gt=0, le=2, description="cordon a server projected at this share of its capacity or more"
    )
    balance_margin: float = Field(
        0.05,
        ge=0,
        le=1,
        description="below the threshold, cordon a server projected this far above the share the whole "
        "fleet will carry once the burst is in (spreads the burst evenly)",
    )
    balance_floor: float = Field(0.6, ge=0, le=2, description="never cordon a server below this share")
    balance_keep_share: float = Field(
        0.5,
        ge=0,
        le=1,
        description="a cordon for balance (below `threshold`) leaves at least this share of the serving "
        "servers placeable: without a forecast of the burst, every server just above the mean would be "
        "cordoned and the burst funnelled onto `min_enabled` of them",
    )
    reopen_below: float = Field(
        0.75, gt=0, le=2, description="enable a guard-cordoned server again below this share"
    )
    interval_seconds: float = Field(2.0, ge=0.25, le=60, description="time between two looks during a burst")
    start_interval_seconds: float = Field(
        0.5,
        ge=0.1,
        le=60,
        description="time between two looks from a minute before a class start to two minutes after (one "
        "that finds nothing moved costs a getServers): the first rooms of a class are seen within it",
    )
    burst_interval_seconds: float = Field(
        0.25,
        ge=0.1,
        le=60,
        description="time between two looks while rooms are being created (a look that finds nothing "
        "moved costs one getServers)",
    )
    before_slot_minutes: float = Field(3.0, ge=0, le=30, description="start looking this long before a class")
    after_slot_minutes: float = Field(15.0, ge=1, le=60, description="keep looking this long after it")
    fill_minutes: float = Field(10.0, gt=0, le=60, description="a room younger than this is still filling")
    surge_load_per_minute: float = Field(
        150.0, gt=0, description="Scalelite's load rising this fast outside a class start is a surge"
    )
    min_enabled: int = Field(
        2, ge=1, description="never fewer placeable servers with room (enabled, with a load) than this"
    )
    hold_seconds: float = Field(
        3.0,
        ge=0,
        le=600,
        description="keep a cordon at least this long before enabling it by choice (no flapping)",
    )
    cordon_ttl_seconds: float = Field(
        120.0,
        ge=10,
        le=3600,
        description="a guard cordon expires this long after the guard's last look renewed it; the "
        "capacity check then enables it (a guard that died leaves nothing cordoned)",
    )
    cordoned_read_seconds: float = Field(
        2.0,
        ge=0.5,
        le=60,
        description="re-read a guard-cordoned server's rooms this often (its load is frozen)",
    )
    window_read_seconds: float = Field(
        5.0,
        ge=0.5,
        le=600,
        description="from a minute before a class start to two minutes after, read each server's rooms at "
        "least this often: a room that ends does not move the load Scalelite reports, so without it the "
        "guard projects the last lesson's rooms",
    )
    undo_grace_seconds: float = Field(
        0.5, ge=0, le=10, description="a room created this long after a cordon shows the cordon was undone"
    )
    max_run_minutes: float = Field(
        14.0, gt=0, le=14.5, description="one run of the guard's Lambda function (15-minute limit)"
    )

    @model_validator(mode="after")
    def _hysteresis(self) -> GuardSettings:
        if self.reopen_below > self.threshold:
            raise ValueError(f"reopen_below ({self.reopen_below}) exceeds threshold ({self.threshold})")
        return self
