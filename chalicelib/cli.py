"""The `bbbscale` command (also `python -m chalicelib`). Thin: parse arguments, get the fleet it runs on
(chalicelib/fleets.py), call the service, print. Exit 0 success, 1 the work failed, 2 bad usage or invalid configuration; a failure is
one clear line on stderr, never a traceback (docs/contract.md).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from datetime import UTC

from chalicelib import __version__
from chalicelib.config import ConfigError
from chalicelib.config_bounds import CEILINGS
from chalicelib.config_file import load_settings
from chalicelib.credentials import CredentialFilter, mask_credentials
from chalicelib.errors import one_line, validation_message
from chalicelib.ports import BbbscaleError, UnreachableError
from chalicelib.service.grammar import HISTORY_KINDS, MAX_HISTORY, MAX_USERS
from chalicelib.state_dir import with_state_path


class UsageError(Exception):
    """Bad command-line usage (exit 2)."""


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (docs/contract.md), then exit 2."""

    def error(self, message: str):
        print(f"{self.prog}: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def _common(*, after_command: bool) -> Parser:
    """--config and --json, taken before the command or after it. After it (the subcommand's copy) an
    option left out sets nothing: argparse would otherwise write the subcommand's defaults over what was
    given before the command (`bbbscale --config fleet.toml tick` ticking the built-in demo fleet)."""
    common = Parser(add_help=False)
    common.add_argument(
        "--config",
        metavar="PATH",
        default=argparse.SUPPRESS if after_command else None,
        help="TOML configuration (default: the built-in demo)",
    )
    common.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS if after_command else False,
        help="machine output: one JSON document on stdout",
    )
    return common


def _parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="bbbscale",
        description="Autoscaler for BigBlueButton fleets behind Scalelite",
        parents=[_common(after_command=False)],
    )
    common = _common(after_command=True)
    parser.add_argument("--version", action="version", version=f"bbbscale {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    load = sub.add_parser("load", parents=[common], help="print the load of a getMeetings response")
    src = load.add_mutually_exclusive_group(required=True)
    src.add_argument("--file", metavar="PATH", help="a getMeetings XML response on disk")
    src.add_argument(
        "--scalelite", metavar="URL", help="API base, e.g. https://lb.example.org/bigbluebutton/api"
    )
    load.add_argument("--secret", help="Scalelite shared secret (default: $BBBSCALE_SCALELITE_SECRET)")
    plan = sub.add_parser("plan", parents=[common], help="servers and hourly cost for N users")
    plan.add_argument("--users", type=int, required=True)
    plan.add_argument("--webcam-ratio", type=float)
    plan.add_argument("--mic-ratio", type=float)
    plan.add_argument("--room-size", type=float)
    state = Parser(add_help=False)
    state.add_argument(
        "--state",
        metavar="PATH",
        help="the SQLite state file (default: [state] path; the built-in configuration's: "
        "$XDG_STATE_HOME/bbbscale/bbbscale.sqlite3, else ~/.local/state/bbbscale/bbbscale.sqlite3)",
    )
    tick = sub.add_parser("tick", parents=[common, state], help="one capacity check")
    tick.add_argument("--dry-run", action="store_true", help="observe and decide; act on nothing")
    run = sub.add_parser("run", parents=[common, state], help="tick forever at the configured interval")
    run.add_argument("--dry-run", action="store_true")
    run.add_argument("--max-ticks", type=int, default=0, help=argparse.SUPPRESS)
    # Tests only: a simulated fleet's shared clock running `speed` times real time from `start`.
    run.add_argument("--speed", type=float, default=1.0, help=argparse.SUPPRESS)
    run.add_argument("--start", type=_moment, default=None, help=argparse.SUPPRESS)
    sub.add_parser(
        "status", parents=[common, state], help="the fleet, the last check's load and desired, overrides"
    )
    history = sub.add_parser(
        "history", parents=[common, state], help="the latest decisions, commands and server transitions"
    )
    history.add_argument("--limit", type=int, default=15, help=f"how many entries (1-{MAX_HISTORY}; 15)")
    history.add_argument(
        "--kind", choices=sorted(set(HISTORY_KINDS.values())), help="only this kind (tick, command, ...)"
    )
    _simulator_commands(sub, common)
    return parser


#: The simulator's commands (bbbsim, plugged in: plugins.py), listed even when it is not installed.
SIMULATOR_COMMANDS = ("simulate", "demo", "trace")


def _simulator_commands(sub, common) -> None:
    """The simulator's commands with the options it declares; when it is not installed, the same names,
    whose run says in one line what is missing (whatever options were given)."""
    from chalicelib.plugins import installed

    found = installed()
    for name in SIMULATOR_COMMANDS:
        if found:
            found.add_arguments(name, sub.add_parser(name, parents=[common], help=found.commands[name]))
        else:  # no option of its own: whatever follows is taken as given (prefix_chars: none is an option)
            missing = sub.add_parser(
                name, help="(needs the simulator, which is not installed)", prefix_chars="\0"
            )
            missing.add_argument("given", nargs="*")


def cmd_simulator(args, settings) -> int:
    """`simulate`, `demo`, `trace`: run by the simulator."""
    from chalicelib.plugins import simulator

    return simulator(f"bbbscale {args.command}").run_command(args.command, args, settings)


def _moment(text: str):
    """An ISO-8601 time with its offset (argparse type)."""
    from datetime import datetime

    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("a time needs its UTC offset")
    return moment


def _emit(document: dict, as_json: bool, human) -> None:
    if as_json:
        json.dump(document, sys.stdout, indent=None if len(json.dumps(document)) > 2000 else 2)
        sys.stdout.write("\n")
    else:
        human(document)


def cmd_load(args, settings) -> int:
    from datetime import datetime

    from chalicelib.domain.load import load_report

    now = datetime.now(UTC)
    if args.file:
        from chalicelib.adapters.scalelite.parse import parse_meetings

        try:
            with open(args.file, "rb") as stream:
                snapshot = parse_meetings(stream, settings.scalelite.max_response_bytes)
        except OSError as error:
            raise BbbscaleError(f"cannot read {args.file}: {error.strerror}") from None
    else:
        from chalicelib.adapters.scalelite.client import ScaleliteClient

        secret = args.secret or os.environ.get(settings.scalelite.secret_env)
        if not secret:
            raise UsageError(f"--secret is required (or set {settings.scalelite.secret_env})")
        from pydantic import ValidationError

        try:
            # validated like the file's scalelite.url (model_copy would not): port 99999 is bad usage
            scalelite = type(settings.scalelite).model_validate(
                {**settings.scalelite.model_dump(), "url": args.scalelite}
            )
            client = ScaleliteClient(scalelite, secret)
        except ValidationError as error:
            reason = validation_message(error.errors()[0])
            raise UsageError(f"--scalelite: {reason}") from None
        except ValueError as error:  # e.g. ftp://..., an unclosed [IPv6 bracket: bad usage, not a crash
            raise UsageError(f"--scalelite: {error}") from None
        try:
            snapshot = client.meetings()
        except UnreachableError as error:
            if not error.timed_out:
                raise
            raise UnreachableError(  # the likely cause, and what to do: one line still
                f"{error}; Scalelite asks its servers one after another (a large fleet can take longer): "
                "raise scalelite.read_timeout in --config, or read each server with `bbbscale tick --dry-run`",
                timed_out=True,
            ) from None
    report = load_report(snapshot, settings.weights, now)
    _emit(report, args.json, lambda r: print("\n".join(f"{k:>15}: {v}" for k, v in r.items())))
    return 0


def cmd_plan(args, settings) -> int:
    from chalicelib.service.status import plan as plan_for

    if not 0 <= args.users <= MAX_USERS:  # 10^400 users ended in an OverflowError, exit 1
        raise UsageError(f"--users must be from 0 to {MAX_USERS:,}")
    for name in ("webcam_ratio", "mic_ratio"):
        value = getattr(args, name)
        if value is not None and not 0 <= value <= 1:
            raise UsageError(f"--{name.replace('_', '-')} must be between 0 and 1")
    most = CEILINGS["UserMix"]["room_size"]  # the configuration's own ceiling (1e308 overflowed)
    if args.room_size is not None and not (math.isfinite(args.room_size) and 1 <= args.room_size <= most):
        # nan and inf pass a plain `< 1` test
        raise UsageError(f"--room-size must be a number from 1 to {most:,g}")
    plan = plan_for(settings, args.users, args.webcam_ratio, args.mic_ratio, args.room_size)

    def human(p):
        print(
            f"{p['users']:,} users = {p['load_units']:,.0f} load units (+headroom: {p['needed_units']:,.0f})"
        )
        for name, n in p["servers"].items():
            print(f"  {name:>12}: {n} servers")
        print(
            f"  total {p['total_servers']} servers, {p['hourly_cost']:.2f} {p['currency']}/h"
            + (f"; {p['unmet_servers']} servers the quotas cannot supply" if p["unmet_servers"] else "")
        )

    _emit(plan, args.json, human)
    return 0


def cmd_tick(args, settings) -> int:
    from chalicelib.fleets import for_command

    settings = with_state_path(getattr(args, "state", None), settings)
    with for_command(settings) as (wiring, _):
        report = wiring.tick(dry_run=args.dry_run)
    from chalicelib.render import print_tick, tick_json

    if args.json:
        _emit(tick_json(report), True, None)
    else:
        print_tick(report)
    if report.load is None and report.problems:
        # The tick held (nothing scaled down on no data) and its decision is recorded, but the load could
        # not be read: for scripts and cron, that is a failed check.
        print(f"bbbscale tick: load not observed: {mask_credentials(report.problems[0])}", file=sys.stderr)
        return 1
    return 0


def _existing_store(args, settings):
    """The state store `tick` and `run` keep, read as it is: a SQLite file that does not exist yet is
    not created (there is nothing to show before the first tick)."""
    from chalicelib.bootstrap import open_store

    settings = with_state_path(getattr(args, "state", None), settings)
    if settings.state.backend == "sqlite" and not os.path.exists(settings.state.path):
        raise BbbscaleError(
            f"no state at {settings.state.path} yet: run `bbbscale tick` first (or give --state)"
        )
    return settings, open_store(settings)


def cmd_status(args, settings) -> int:
    """What chat `status` answers, from the shell (a fleet run without chat had no way to see it)."""
    from datetime import datetime

    from chalicelib.service.commands import describe_status
    from chalicelib.service.status import status

    settings, store = _existing_store(args, settings)
    document = status(settings, store, datetime.now(UTC))
    _emit(document, args.json, lambda d: print(describe_status(d, settings.timezone)))
    return 0


def cmd_history(args, settings) -> int:
    """What chat `history` answers, from the shell: newest first, times in the fleet's zone."""
    from chalicelib.service.commands import describe_history

    if not 1 <= args.limit <= MAX_HISTORY:
        raise UsageError(f"--limit must be from 1 to {MAX_HISTORY}")
    settings, store = _existing_store(args, settings)
    entries = store.history.recent(limit=args.limit, kind=args.kind)
    document = {
        "entries": [
            {"at": e.at.isoformat(), "kind": e.kind, "summary": e.summary, "actor": e.actor} for e in entries
        ]
    }
    _emit(document, args.json, lambda d: print(describe_history(entries, settings.timezone)))
    return 0


def cmd_run(args, settings) -> int:
    from chalicelib.run import run_forever

    settings = with_state_path(getattr(args, "state", None), settings)
    if not (math.isfinite(args.speed) and 0 < args.speed <= 3600):
        raise UsageError("--speed must be a number in (0, 3600]")
    return run_forever(
        settings,
        dry_run=args.dry_run,
        max_ticks=args.max_ticks,
        as_json=args.json,
        speed=args.speed,
        start=args.start,
    )


COMMANDS = {
    "load": cmd_load,
    "plan": cmd_plan,
    "tick": cmd_tick,
    "run": cmd_run,
    "status": cmd_status,
    "history": cmd_history,
}


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(CredentialFilter())
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
        return COMMANDS.get(args.command, cmd_simulator)(args, settings)
    except (ConfigError, UsageError) as error:
        print(f"bbbscale {args.command}: {_one_line(str(error), args)}", file=sys.stderr)
        return 2
    except BbbscaleError as error:
        print(f"bbbscale {args.command}: {_one_line(str(error), args)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"bbbscale {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - the contract: one line, never a bare traceback
        logging.getLogger("bbbscale").debug("unexpected error", exc_info=True)
        said = _one_line((str(error).splitlines() or [""])[0], args, 200)
        print(f"bbbscale {args.command}: unexpected {type(error).__name__}: {said}", file=sys.stderr)
        return 1


def _one_line(text: str, args, limit: int = 500) -> str:
    """An error as the contract's one stderr line: whitespace (a server's message may hold line breaks)
    folded, at most `limit` characters, `--secret` and URL passwords masked."""
    secret = getattr(args, "secret", None)
    said = text.replace(secret, "***") if secret else text
    return one_line(mask_credentials(said), limit)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
