"""The Provider port's contract, run over every implementation: each real adapter against its loopback
fake (EC2 against moto's server), the simulated cloud (alone and behind the fault suite's wrapper), and
the hand-written test fake.

What the service relies on (chalicelib/ports.py, service/actuator.py, domain/reconcile.py): `create`
answers with the VMs it made, under the names asked; `list` shows this cluster's VMs and never another
cluster's on the same account; a booted VM is `running` with an address; `stop` makes it `stopped` and
`start` brings it back (pending or running); `destroy` takes it out of `list`, and destroying a VM that is
already gone is fine (a retried destroy finds it gone); an id the provider does not know is a
ProviderError on start and stop, never some other exception. What the dry run and the CLI's progress
lines use: `calls` describes an operation without making it (one line per target, or none from a provider
that sends no request), never with the user data; `create` reports (done, total) to the hook
`report_progress` gave it, ending at (total, total).
"""

from __future__ import annotations

import itertools
from datetime import datetime

import pytest

from chalicelib.ports import PROVIDER_OPERATIONS, LaunchSpec, Provider, ProviderError
from tests.contract.clouds import LIFECYCLE, OPENERS, Cloud, ec2

STATUSES = {"pending", "running", "stopped", "gone"}
_clusters = itertools.count(1)


@pytest.fixture(params=LIFECYCLE)
def cloud(request) -> Cloud:
    opener = (lambda: ec2(request.getfixturevalue("moto_endpoint"))) if request.param == "ec2" else None
    with (opener or OPENERS[request.param])() as opened:
        yield opened


@pytest.fixture
def cluster() -> str:
    """A cluster of its own for each test: the moto server's account outlives a test."""
    return f"k{next(_clusters)}"


#: A secret in the user data a dry run describes: it must never show in the calls.
USER_DATA = "#cloud-config\nwrite_files:\n  - content: BBB_SECRET=contract-s3cret-4242\n"


def specs(cloud: Cloud, cluster: str, *numbers: int, user_data: str = "#cloud-config\n") -> list[LaunchSpec]:
    """What the service asks for: its names, its tags, a first-boot script of its own."""
    tags = {"bbbscale:cluster": cluster, "bbbscale:provider": cloud.name}
    return [
        LaunchSpec(f"bbbscale-{cluster}-{cloud.name}-{n}", user_data=user_data, tags=tags) for n in numbers
    ]


def live(provider: Provider) -> dict[str, object]:
    return {vm.vm_id: vm for vm in provider.list() if vm.status != "gone"}


def test_it_is_the_provider_port(cloud, cluster):
    provider = cloud.provider(cluster)
    assert isinstance(provider, Provider) and provider.name == cloud.name
    assert live(provider) == {}


def test_create_answers_with_the_vms_made_under_the_names_asked(cloud, cluster):
    provider = cloud.provider(cluster)
    asked = specs(cloud, cluster, 1, 2)
    made = provider.create(asked)
    assert sorted(vm.name for vm in made) == sorted(s.name for s in asked)
    assert len({vm.vm_id for vm in made}) == 2
    assert all(vm.provider == cloud.name and vm.status in ("pending", "running") for vm in made)
    listed = live(provider)
    assert set(listed) == {vm.vm_id for vm in made}
    assert {listed[vm.vm_id].name for vm in made} == {s.name for s in asked}


def test_creating_nothing_makes_nothing(cloud, cluster):
    provider = cloud.provider(cluster)
    assert provider.create([]) == [] and live(provider) == {}


def test_a_booted_vm_runs_with_an_address_and_a_launch_time(cloud, cluster):
    provider = cloud.provider(cluster)
    provider.create(specs(cloud, cluster, 1))
    cloud.boot()
    (vm,) = provider.list()
    assert vm.status == "running" and vm.address
    assert vm.launched_at is None or (isinstance(vm.launched_at, datetime) and vm.launched_at.tzinfo)
    assert all(vm.status in STATUSES for vm in provider.list())


def test_another_clusters_vms_are_never_listed(cloud, cluster):
    mine, theirs = cloud.provider(cluster), cloud.provider(f"{cluster}-other")
    (made,) = mine.create(specs(cloud, cluster, 1))
    (other,) = theirs.create(specs(cloud, f"{cluster}-other", 1))
    assert set(live(mine)) == {made.vm_id} and set(live(theirs)) == {other.vm_id}


def test_stop_makes_it_stopped_and_start_brings_it_back(cloud, cluster):
    provider = cloud.provider(cluster)
    (vm,) = provider.create(specs(cloud, cluster, 1))
    cloud.boot()
    provider.stop(vm.vm_id)
    assert live(provider)[vm.vm_id].status == "stopped"
    started = provider.start(vm.vm_id)
    assert started.vm_id == vm.vm_id and started.status in ("pending", "running")
    cloud.boot()
    assert live(provider)[vm.vm_id].status == "running"


def test_destroy_takes_it_out_of_the_list_and_a_second_destroy_is_fine(cloud, cluster):
    provider = cloud.provider(cluster)
    first, second = provider.create(specs(cloud, cluster, 1, 2))
    cloud.boot()
    provider.destroy(first.vm_id)
    assert set(live(provider)) == {second.vm_id}
    provider.destroy(first.vm_id)
    assert set(live(provider)) == {second.vm_id}


def test_a_stopped_vm_can_be_destroyed(cloud, cluster):
    provider = cloud.provider(cluster)
    (vm,) = provider.create(specs(cloud, cluster, 1))
    cloud.boot()
    provider.stop(vm.vm_id)
    provider.destroy(vm.vm_id)
    assert live(provider) == {}


@pytest.mark.parametrize("operation", ["start", "stop"])
def test_an_unknown_vm_is_a_provider_error(cloud, cluster, operation):
    provider = cloud.provider(cluster)
    provider.create(specs(cloud, cluster, 1))  # the account is not empty
    with pytest.raises(ProviderError):
        getattr(provider, operation)(unknown_id(cloud.name))


@pytest.mark.parametrize("operation", PROVIDER_OPERATIONS)
def test_calls_describe_an_operation_without_making_it(cloud, cluster, operation):
    provider = cloud.provider(cluster)
    (vm,) = provider.create(specs(cloud, cluster, 1))
    cloud.boot()
    before = live(provider)
    targets = specs(cloud, cluster, 2, 3, user_data=USER_DATA) if operation == "create" else [vm.vm_id]
    lines = provider.calls(operation, targets)
    assert live(provider) == before, "describing made the call"
    assert all(isinstance(line, str) and line for line in lines)
    if lines:  # a provider that sends requests describes one per target, naming it
        named = [t.name if isinstance(t, LaunchSpec) else t for t in targets]
        assert len(lines) == len(targets) and all(n in line for n, line in zip(named, lines)), lines
    assert "contract-s3cret-4242" not in " ".join(lines)


def test_calls_of_an_unknown_operation_is_a_provider_error(cloud, cluster):
    with pytest.raises(ProviderError, match="reboot"):
        cloud.provider(cluster).calls("reboot", ["any"])


def test_create_reports_its_progress_to_the_hook_it_was_given(cloud, cluster):
    provider = cloud.provider(cluster)
    seen: list[tuple[int, int]] = []
    provider.report_progress(lambda done, total: seen.append((done, total)))
    assert provider.create([]) == [] and seen == []
    provider.create(specs(cloud, cluster, 1, 2, 3))
    assert seen and seen[-1] == (3, 3), seen
    assert all(total == 3 and 1 <= done <= 3 for done, total in seen)
    assert [done for done, _ in seen] == sorted({done for done, _ in seen}), "in order, each once"
    provider.report_progress(None)
    provider.create(specs(cloud, cluster, 4))
    assert len(live(provider)) == 4 and seen[-1] == (3, 3), "nobody listens any more"


def unknown_id(cloud_name: str) -> str:
    """An id of the right shape that the account never issued (some APIs refuse malformed ids first)."""
    return {
        "aws": "i-0123456789abcdef0",
        "ovh": "00000000-0000-4000-8000-000000000000",
        "ikoula": "00000000-0000-4000-8000-000000000000",
        "scw": "00000000-0000-4000-8000-000000000000",
        "osc": "i-00000000",
    }.get(cloud_name, "no-such-vm")


# --- an owned pool: always on, never changed -----------------------------------------------------------
def static_pool():
    from chalicelib.adapters.providers.static import StaticPool
    from tests.provider_fakes.context import context, settings

    servers = [{"name": f"bbb0{n}", "url": f"https://bbb0{n}.example.org/bigbluebutton/api"} for n in (1, 2)]
    return StaticPool(
        "owned",
        settings("static", mode="static"),
        StaticPool.Options.model_validate({"servers": servers}),
        context("demo"),
    )


def simulated_static_pool():
    import random
    from datetime import UTC

    from bbbsim.cloud import SimulatedCloud
    from bbbsim.world import SimWorld
    from chalicelib.config import ProviderSettings
    from chalicelib.ports import ProviderContext

    at = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    world = SimWorld(random.Random(7))
    config = ProviderSettings(kind="simulated", mode="static", min_servers=2, max_servers=2, quota=2)
    return SimulatedCloud("owned", config, {}, ProviderContext("demo", lambda: at, lambda key: None), world)


@pytest.mark.parametrize("open_pool", [static_pool, simulated_static_pool], ids=["static", "simulated"])
def test_an_owned_pool_lists_its_servers_running_and_refuses_every_change(open_pool):
    pool = open_pool()
    seen: list = []
    pool.report_progress(lambda done, total: seen.append((done, total)))
    listed = pool.list()
    assert len(listed) == 2 and all(vm.status == "running" and vm.address for vm in listed)
    for change in (
        lambda: pool.create([LaunchSpec("bbbscale-demo-owned-9")]),
        lambda: pool.start(listed[0].vm_id),
        lambda: pool.stop(listed[0].vm_id),
        lambda: pool.destroy(listed[0].vm_id),
    ):
        with pytest.raises(ProviderError):
            change()
    assert pool.list() == listed and seen == []
    assert [pool.calls(operation, [listed[0].vm_id]) for operation in ("start", "stop", "destroy")] == [
        []
    ] * 3
    with pytest.raises(ProviderError, match="reboot"):
        pool.calls("reboot", [listed[0].vm_id])
