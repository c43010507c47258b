"""Each adapter's `Options` (the model the bootstrap and the loader validate its `options` table with) is
the model its `self.options` is typed as (the parameter of `HostedProvider[...]` / `ZoneAdapter[...]`).

mypy checks the adapters against the type parameter, but cannot tie a class attribute to it: were the
two to differ, mypy would pass code reading a field that the validated options do not have. Read from
the classes, so a new adapter is held to it without a line here."""

from __future__ import annotations

import typing

import pytest
from pydantic import BaseModel

from chalicelib.adapters.dns.base import ZoneAdapter
from chalicelib.adapters.providers.base import HostedProvider
from chalicelib.registry import DNS_DRIVERS, PROVIDERS, resolve


def typed_options(cls: type) -> type | None:
    """The options model `cls` is parametrised with, the nearest in its method resolution order."""
    for klass in cls.__mro__:
        for base in getattr(klass, "__orig_bases__", ()):
            for arg in typing.get_args(base):
                if isinstance(arg, type) and issubclass(arg, BaseModel):
                    return arg
    return None


GENERIC = [
    *((kind, path) for kind, path in PROVIDERS.items() if kind != "static"),
    *DNS_DRIVERS.items(),
]


@pytest.mark.parametrize(("kind", "path"), GENERIC, ids=[kind for kind, _ in GENERIC])
def test_the_validated_options_are_the_typed_options(kind, path):
    table = PROVIDERS if kind in PROVIDERS else DNS_DRIVERS
    cls = resolve(table, kind, "adapter")
    assert issubclass(cls, (HostedProvider, ZoneAdapter))
    assert typed_options(cls) is cls.Options, f"{path}: Options and the type parameter differ"


def test_the_static_pool_types_its_own_options():
    """The owned pool is no HostedProvider (it calls no API): its constructor names its model itself."""
    cls = resolve(PROVIDERS, "static", "provider kind")
    hints = typing.get_type_hints(cls.__init__)
    assert hints["options"] is cls.Options


def test_a_mismatch_is_seen():
    """The check can fail: an adapter typed with one model and validating another."""
    from chalicelib.adapters.providers.ec2 import Ec2Options
    from chalicelib.adapters.providers.openstack import OpenStackProvider

    class Crossed(OpenStackProvider):
        Options = Ec2Options

    assert typed_options(Crossed) is not Crossed.Options
