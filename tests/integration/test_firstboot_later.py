"""The first boot after the first: a later boot on the same address does nothing, one on a new address
(a power-pool server started elsewhere) configures it again before HTTPS opens; the daily certificate
renewal; and how the TURN servers are shared (tests/integration/firstboot_root.py)."""

from xml.etree import ElementTree

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tests.integration.firstboot_root import (
    CERT_TOOL,
    CHAIN,
    FQDN,
    PUBLIC_IP,
    TURN_SECRET,
    CertRoute,
    ImageRoot,
    boot_env,
)

SPRING = "{http://www.springframework.org/schema/beans}"


@pytest.fixture
def route():
    served = CertRoute()
    yield served
    served.close()


@pytest.fixture
def image(tmp_path, route):
    return ImageRoot(tmp_path, cert_url=route.url)


def test_the_turn_server_is_picked_by_name_so_the_fleet_spreads_over_them(tmp_path, route):
    route.name = None
    picked = set()
    for n in range(8):
        env = boot_env().replace("bbbscale-demo-ovh-7", f"bbbscale-demo-ovh-{n}")
        image = ImageRoot(tmp_path / str(n), env_text=env, cert_url=route.url)
        run = image.run(STUB_RESOLVES=PUBLIC_IP)
        if run.code == 0:
            picked.add(run.calls[run.index("bbb-install.sh")].split(" -c ")[1].split(":")[0])
    assert picked == {"turn1.example.org", "turn2.example.org"}


def test_a_later_boot_on_the_same_address_does_nothing(image):
    assert image.run().code == 0
    again = image.run()
    assert again.code == 0 and again.calls == ["hostname -I"]


def test_a_restarted_server_on_a_new_address_is_configured_again_before_https_opens(image):
    """A power-pool server started again elsewhere: the packages and bbb-install run again for the new
    address (TURN secret read back from BBB's TURN XML), behind the gate, before bbbscale can enable it."""
    assert image.run().code == 0
    run = image.run(STUB_INTERFACE="10.0.0.9", STUB_LOCAL_IP="203.0.113.77", STUB_RESOLVES="203.0.113.77")
    assert run.code == 0, run.stderr
    gate = "-p tcp --dport 443 ! -s 203.0.113.77 -m addrtype ! --src-type LOCAL -j REJECT"
    assert run.calls == [
        "hostname -I",
        "dig +short NS bbb.example.org",
        f"dig +short A {FQDN} @ns1.example.net.",
        f"dig +short AAAA {FQDN} @ns1.example.net.",
        "hostname -I",
        f"iptables -w -I INPUT {gate}",
        "ip6tables -w -I INPUT -p tcp --dport 443 -m addrtype ! --src-type LOCAL -j REJECT",
        "dpkg-reconfigure -fnoninteractive bbb-freeswitch-core",
        "dpkg-reconfigure -fnoninteractive bbb-webrtc-sfu",
        f"bbb-install.sh -v jammy-300 -s {FQDN} -d -c turn1.example.org:{TURN_SECRET} -w",
        f"chown root:bigbluebutton {image.root}/etc/bigbluebutton/turn-stun-servers.xml.new",
        f"iptables -w -D INPUT {gate}",
        "ip6tables -w -D INPUT -p tcp --dport 443 -m addrtype ! --src-type LOCAL -j REJECT",
    ]
    old = [f for f in image.files_holding("10.0.0.5") + image.files_holding(PUBLIC_IP) if "/log/" not in f]
    assert old == []  # (bbb-install's log keeps its own history)
    assert "CONFIGURED_ADDRESS=10.0.0.9" in image.path("var/lib/bbbscale/configured.env").read_text()
    assert image.run(STUB_INTERFACE="10.0.0.9").calls == ["hostname -I"]
    assert image.files_holding(TURN_SECRET) == ["etc/bigbluebutton/turn-stun-servers.xml"]


def test_a_failed_reconfiguration_keeps_https_closed(image):
    assert image.run().code == 0
    run = image.run(STUB_INTERFACE="10.0.0.9", STUB_FAIL="bbb-install.sh")
    assert run.code != 0 and not run.called("iptables -w -D INPUT")
    assert image.path("var/lib/bbbscale/firstboot.failed").read_text().startswith("step bbb-install failed")
    assert image.run(STUB_INTERFACE="10.0.0.9").calls[-1].startswith("ip6tables -w -I INPUT")


def test_the_daily_renewal_installs_a_new_certificate_through_bbb_installs_hook(image, route):
    assert image.run().code == 0
    hook = image.path("etc/letsencrypt/renewal-hooks/deploy/haproxy")  # bbb-install's, without -c
    image.write(
        "etc/letsencrypt/renewal-hooks/deploy/haproxy", '#!/bin/bash\necho "haproxy-hook" >>"$STUB_LOG"\n'
    )
    hook.chmod(0o755)
    tool = ["python3", str(CERT_TOOL), "renew"]
    assert image.run(tool).calls == []  # unchanged: nothing reloaded
    route.chain = CHAIN.replace("wildcard", "renewed")
    run = image.run(tool)
    assert run.code == 0, run.stderr
    assert run.calls == ["haproxy-hook"], run.stderr
    assert "renewed" in image.path("local/certs/fullchain.pem").read_text()
    hook.unlink()  # bbb-install -c: nginx serves TLS itself from the same files
    route.chain = CHAIN.replace("wildcard", "again")
    assert image.run(tool).calls == ["systemctl reload nginx.service"]


@hypothesis_settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    hosts=st.lists(
        st.from_regex(r"turn[0-9]{1,2}\.example\.org", fullmatch=True), min_size=1, max_size=4, unique=True
    ),
    n=st.integers(0, 999),
)
def test_every_turn_server_is_listed_once_in_both_forms_and_used_by_bbb(tmp_path_factory, route, hosts, n):
    route.name = None
    env = boot_env(turn_servers=hosts).replace("bbbscale-demo-ovh-7", f"bbbscale-demo-ovh-{n}")
    image = ImageRoot(tmp_path_factory.mktemp("turn"), env_text=env, cert_url=route.url)
    run = image.run()
    assert run.code == 0, run.stderr
    beans = ElementTree.parse(image.path("etc/bigbluebutton/turn-stun-servers.xml")).getroot()
    urls = [arg.get("value") for arg in beans.iter(f"{SPRING}constructor-arg") if arg.get("index") == "1"]
    assert sorted(urls) == sorted(
        [f"turn:{h}:3478" for h in hosts] + [f"turns:{h}:443?transport=tcp" for h in hosts]
    )
    ids = {bean.get("id") for bean in beans.iter(f"{SPRING}bean") if bean.get("id", "").startswith("turn")}
    assert {ref.get("bean") for ref in beans.iter(f"{SPRING}ref")} == ids and len(ids) == 2 * len(hosts)
