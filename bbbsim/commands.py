"""The simulator's commands, offered to the `bbbscale` CLI through the plugin (bbbsim/plugin.py): their
options (docs/contract.md: the same as when they lived in chalicelib/cli.py, argument types by the same
names, so argparse's messages are unchanged) and what each runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from chalicelib.cli import UsageError, _emit


def _positive_seconds(text: str) -> float:
    """A number of seconds > 0 (argparse type: anything else is bad usage, exit 2)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"must be > 0 and <= 3600 seconds, got {text}")
    return value


def _local_time(text: str):
    """HH:MM (argparse type)."""
    from datetime import time

    try:
        return time.fromisoformat(text)
    except ValueError:  # argparse would name the function: "invalid _local_time value"
        raise argparse.ArgumentTypeError(f"{text!r} is not a local time HH:MM") from None


def _day(text: str):
    """YYYY-MM-DD (argparse type)."""
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day YYYY-MM-DD") from None


def _share(text: str) -> float:
    """A share between 0 and 1 (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1")
    return value


def simulate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trace", required=True, metavar="PATH")
    parser.add_argument(
        "--policy",
        default="bbbscale",
        choices=("bbbscale", "reactive", "static"),
        help="the scaler to replay (default: bbbscale)",
    )
    parser.add_argument("--plot", metavar="PNG", help="write a plot of load, capacity and servers")
    parser.add_argument(
        "--history",
        metavar="PATH",
        action="append",
        help="a trace of a past week the forecast learns from (repeatable)",
    )
    parser.add_argument(
        "--scalelite-poll",
        type=_positive_seconds,
        metavar="SECONDS",
        help="Scalelite's POLL_INTERVAL in the simulated fleet (default: 60, as Scalelite)",
    )
    parser.add_argument(
        "--getmeetings-seconds",
        type=_positive_seconds,
        metavar="SECONDS",
        help="each BBB server's getMeetings as Scalelite's poller waits for it: the length of its rounds "
        "(default: 0.1)",
    )
    parser.add_argument(
        "--look-latency",
        type=_positive_seconds,
        metavar="SECONDS",
        help="each call of the burst guard's looks takes this long (default: 0, instant)",
    )
    parser.add_argument(
        "--look-failures",
        type=_share,
        metavar="SHARE",
        help="the share of the burst guard's calls that fail, 0-1, seeded (default: 0)",
    )


def demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plot", metavar="PNG", default="bbbscale-demo.png")
    parser.add_argument("--quiet", action="store_true", help="only the summary")
    parser.add_argument(
        "--end", type=_local_time, metavar="HH:MM", help="end the morning earlier (default: 09:40)"
    )


def trace_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", metavar="DIR", default="traces", help="directory to write (default: traces)")
    parser.add_argument("--seed", type=int, default=1, help="the random seed (default: 1)")
    parser.add_argument("--monday", type=_day, metavar="DATE", help="the week's Monday (default: 2026-11-23)")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="rooms x this (default: 1, the seed's school)"
    )
    parser.add_argument(
        "--only", metavar="NAME", action="append", help="write only this trace, e.g. week.csv (repeatable)"
    )


def cmd_simulate(args, settings) -> int:
    from bbbsim.simulate import simulate_command

    return simulate_command(args, settings)


def cmd_demo(args, settings) -> int:
    from bbbsim.demo import END, START, run_demo

    if args.end is not None and args.end <= START:
        raise UsageError(f"--end must be after {START:%H:%M}")
    return run_demo(settings, plot=args.plot, as_json=args.json, quiet=args.quiet, end=args.end or END)


def cmd_trace(args, settings) -> int:
    from bbbsim.trace_command import trace_command

    try:
        return trace_command(args, lambda document, human: _emit(document, args.json, human))
    except ValueError as error:
        raise UsageError(str(error)) from None


ARGUMENTS: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "simulate": simulate_arguments,
    "demo": demo_arguments,
    "trace": trace_arguments,
}
RUN: dict[str, Callable[[argparse.Namespace, object], int]] = {
    "simulate": cmd_simulate,
    "demo": cmd_demo,
    "trace": cmd_trace,
}
