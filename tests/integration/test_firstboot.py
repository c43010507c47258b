"""The prepared image's first boot (infra/image/files/bbbscale-firstboot.sh), run for real against a
temporary root holding the image's upstream files (tests/fixtures/bbb/image, named there) with a stubbed
bbb-install that records its argv (tests/integration/firstboot_root.py): the exact command line, the order
of the steps, no build address left, no secret or key left — also when a step fails."""

import signal
import stat
import subprocess
import time
from xml.etree import ElementTree

import pytest

from tests.integration.firstboot_root import (
    BUILD_IP,
    FQDN,
    KEY,
    PUBLIC_IP,
    SCRIPT,
    SECRET,
    TURN_SECRET,
    CertRoute,
    ImageRoot,
    boot_env,
)

SPRING = "{http://www.springframework.org/schema/beans}"

#: The system calls of a successful first boot, in order (the stubs' argv lines, root paths as `{root}`).
EXPECTED = [
    "hostname -I",  # this VM's address, recorded for later boots
    f"hostnamectl set-hostname {FQDN}",
    "dig +short NS bbb.example.org",  # the zone's own servers are asked: no cache, no /etc/hosts
    f"dig +short A {FQDN} @ns1.example.net.",
    f"dig +short AAAA {FQDN} @ns1.example.net.",
    "hostname -I",
    f"iptables -w -I INPUT -p tcp --dport 443 ! -s {PUBLIC_IP} -m addrtype ! --src-type LOCAL -j REJECT",
    "ip6tables -w -I INPUT -p tcp --dport 443 -m addrtype ! --src-type LOCAL -j REJECT",
    "bbbscale-cert fetch",  # into /local/certs, where bbb-install -d expects it
    f"bbb-conf --setsecret {SECRET}",  # before bbb-install: its bbb-conf --setip restarts BBB
    "dpkg-reconfigure -fnoninteractive bbb-freeswitch-core",  # vars.xml local_ip_v4
    "dpkg-reconfigure -fnoninteractive bbb-webrtc-sfu",  # its default.yml
    f"bbb-install.sh -v jammy-300 -s {FQDN} -d -c turn1.example.org:{TURN_SECRET} -w",
    "chown root:bigbluebutton {root}/etc/bigbluebutton/turn-stun-servers.xml.new",  # the other TURN server
    "mount /mnt/scalelite-recordings",
    "shred -u {root}/etc/bbbscale/boot.env",
    "shred -u {root}/var/lib/cloud/instance/user-data.txt",
    "shred -u {root}/var/lib/cloud/instance/user-data.txt.i",
    "shred -u {root}/var/lib/cloud/instances/i-123/obj.pkl",
    "shred -u {root}/var/lib/cloud/instances/i-123/cloud-config.txt",
    "shred -u {root}/run/cloud-init/instance-data-sensitive.json",
    "shred -u {root}/var/log/cloud-init.log",
    "iptables -w -I OUTPUT -d 169.254.169.254 -j REJECT",
    "ip6tables -w -I OUTPUT -d fd00:ec2::254 -j REJECT",
    f"iptables -w -D INPUT -p tcp --dport 443 ! -s {PUBLIC_IP} -m addrtype ! --src-type LOCAL -j REJECT",
    "ip6tables -w -D INPUT -p tcp --dport 443 -m addrtype ! --src-type LOCAL -j REJECT",
]


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def route():
    served = CertRoute()
    yield served
    served.close()


@pytest.fixture
def image(tmp_path, route):
    return ImageRoot(tmp_path, cert_url=route.url)


def test_a_first_boot_runs_bbb_install_for_its_own_name_then_only_what_bbb_install_cannot(image, route):
    run = image.run()
    assert run.code == 0, run.stderr
    assert run.calls == [line.replace("{root}", str(image.root)) for line in EXPECTED]
    # The certificate bbb-install -d takes, from bbbscale's route with a token of this server's.
    assert image.path("local/certs/privkey.pem").read_text() == KEY
    assert mode(image.path("local/certs/privkey.pem")) == 0o600
    assert route.requests and route.requests[0].startswith("Bearer bbbscale-demo-ovh-7.")
    live = image.path(f"etc/letsencrypt/live/{FQDN}/fullchain.pem")
    assert live.is_symlink() and live.resolve() == image.path("local/certs/fullchain.pem")
    # The second TURN server beside bbb-install's turn0/turn1, in bbb-install's own form.
    beans = ElementTree.parse(image.path("etc/bigbluebutton/turn-stun-servers.xml")).getroot()
    urls = [arg.get("value") for arg in beans.iter(f"{SPRING}constructor-arg") if arg.get("index") == "1"]
    assert urls == [
        "turn:turn1.example.org:3478",
        "turns:turn1.example.org:443?transport=tcp",
        "turn:turn2.example.org:3478",
        "turns:turn2.example.org:443?transport=tcp",
    ]
    refs = [ref.get("bean") for ref in beans.iter(f"{SPRING}ref")]
    assert refs == ["turn0", "turn1", "turn2", "turn3"]  # every one in turnServers; no STUN server at all
    assert mode(image.path("etc/bigbluebutton/turn-stun-servers.xml")) == 0o640
    # Scalelite's transfer: the spool mounted over NFS and named; a transferred recording leaves the server.
    scalelite = image.path("usr/local/bigbluebutton/core/scripts/scalelite.yml").read_text()
    assert (
        "\nspool_dir: /mnt/scalelite-recordings\n" in scalelite and "\ndelete_recording: true\n" in scalelite
    )
    assert "work_dir: /var/bigbluebutton/recording/scalelite" in scalelite  # the rest as upstream has it
    assert "nfs.example.org:/rec /mnt/scalelite-recordings nfs defaults,_netdev 0 0" in (
        image.path("etc/fstab").read_text()
    )
    assert image.path("var/lib/bbbscale/firstboot.done").exists()
    assert not image.path("var/lib/bbbscale/firstboot.failed").exists()
    assert image.path("var/lib/bbbscale/metadata-fenced").read_text() == "169.254.169.254\nfd00:ec2::254\n"
    assert image.path("etc/cloud/cloud-init.disabled").exists()


def test_no_address_of_the_build_machine_is_left(image):
    """bbb-install writes FreeSWITCH's external addresses, sip.nginx, bbb-webrtc-sfu's overrides and the
    TURN XML; the packages' after-install (run again) vars.xml local_ip_v4 and bbb-webrtc-sfu's defaults."""
    assert image.files_holding(BUILD_IP) != []
    assert image.run().code == 0
    assert image.files_holding(BUILD_IP) == []
    vars_xml = image.path("opt/freeswitch/conf/vars.xml").read_text()
    assert 'data="local_ip_v4=10.0.0.5"' in vars_xml and f'data="external_rtp_ip={PUBLIC_IP}"' in vars_xml
    assert (
        f"proxy_pass http://{PUBLIC_IP}:5066;"
        in image.path("usr/share/bigbluebutton/nginx/sip.nginx").read_text()
    )


def test_without_the_packages_step_local_ip_v4_would_keep_the_build_address(image):
    """Neither bbb-install nor bbb-conf --setip writes local_ip_v4: that is why the packages step exists."""
    run = image.run(STUB_FAIL="dpkg-reconfigure")
    assert run.code != 0
    assert "local_ip_v4=192.0.2.99" in image.path("opt/freeswitch/conf/vars.xml").read_text()


def test_no_secret_or_key_is_left_behind(image):
    assert image.run().code == 0
    # BBB needs its secret in bbb-web's properties and the TURN secret in its TURN XML; nothing else may.
    assert image.files_holding(SECRET) == ["etc/bigbluebutton/bbb-web.properties"]
    assert image.files_holding(TURN_SECRET) == ["etc/bigbluebutton/turn-stun-servers.xml"]
    assert image.files_holding("MIIsecretkey") == ["local/certs/privkey.pem"]
    for gone in (
        "etc/bbbscale/boot.env",
        "var/lib/cloud/instances/i-123/user-data.txt",
        "var/lib/cloud/instances/i-123/user-data.txt.i",
        "var/lib/cloud/instances/i-123/obj.pkl",
        "var/log/cloud-init.log",
        "var/lib/cloud/instances/i-123/cloud-config.txt",
        "run/cloud-init/instance-data-sensitive.json",
    ):
        assert not image.path(gone).exists(), gone
    for kept in ("var/log/cloud-init-output.log", "var/lib/cloud/instances/i-123/datasource"):
        assert image.path(kept).exists(), kept
    # bbb-install runs with -x and prints its environment: its log has the secrets masked, and the BBB
    # secret was never in its environment.
    log = image.path("var/log/bbbscale/bbb-install.log").read_text()
    assert "COTURN=turn1.example.org:[secret]" in log and TURN_SECRET not in log and "BBB_SECRET" not in log


# (step, what fails): every step before the scrub, then the scrub and the fence themselves.
FAILURES = [
    ("hostname", "hostnamectl"),
    ("gate", "iptables -w -I INPUT"),
    ("certificate", "bbbscale-cert"),
    ("secret", "bbb-conf --setsecret"),
    ("packages", "dpkg-reconfigure -fnoninteractive bbb-freeswitch-core"),
    ("bbb-install", "bbb-install.sh"),
    ("turn", "chown root:bigbluebutton"),
    ("recordings", "mount"),
    ("metadata-fence", "iptables -w -I OUTPUT"),
    ("open", "iptables -w -D INPUT"),
    ("open", "ip6tables -w -D INPUT"),
]


@pytest.mark.parametrize(("step", "failing"), FAILURES, ids=[f"{s}:{f.split()[0]}" for s, f in FAILURES])
def test_a_failing_step_still_scrubs_and_fences_and_the_server_never_serves(image, step, failing):
    run = image.run(STUB_FAIL=failing)
    assert run.code != 0
    reason = image.path("var/lib/bbbscale/firstboot.failed").read_text()
    assert reason.startswith(f"step {step} failed: {failing.split()[0]}")
    assert f"FAILED at step {step}" in run.stderr
    assert not image.path("var/lib/bbbscale/firstboot.done").exists()
    assert not run.called("iptables -w -D INPUT") or step == "open"  # HTTPS stays closed to others
    # Scrub and fence ran all the same (issue 23 item 7): no copy of a secret, the metadata service fenced.
    assert image.files_holding(SECRET) in ([], ["etc/bigbluebutton/bbb-web.properties"])
    assert not image.path("etc/bbbscale/boot.env").exists()
    assert not image.path("run/cloud-init/instance-data-sensitive.json").exists()
    assert image.files_holding(TURN_SECRET) in ([], ["etc/bigbluebutton/turn-stun-servers.xml"])
    if step != "metadata-fence":
        assert run.called("iptables -w -I OUTPUT -d 169.254.169.254 -j REJECT")
    assert SECRET not in run.stderr and SECRET not in reason and TURN_SECRET not in reason


def test_a_shred_that_fails_still_removes_the_copies(image):
    """shred can fail (a read-only or odd file system): the copy is removed all the same."""
    run = image.run(STUB_FAIL="shred -u")
    assert run.code == 0, run.stderr
    assert image.files_holding(SECRET) == ["etc/bigbluebutton/bbb-web.properties"]


def test_a_stop_mid_boot_still_scrubs_and_fences(image):
    """systemd stops a first boot past its TimeoutStartSec with SIGTERM: the EXIT trap still cleans up."""
    env = {**image.env(), "STUB_RESOLVES": "", "DNS_WAIT_SECONDS": "60"}  # waits for a name never made
    boot = subprocess.Popen(["bash", str(SCRIPT)], env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while "dig +short NS" not in image.log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)  # it is waiting for its name
    boot.send_signal(signal.SIGTERM)
    _, stderr = boot.communicate(timeout=20)
    assert boot.returncode != 0
    assert (
        image.path("var/lib/bbbscale/firstboot.failed").read_text().startswith("step dns failed: interrupted")
    )
    assert not image.path("etc/bbbscale/boot.env").exists()
    assert image.files_holding(SECRET) == [] and "iptables -w -I OUTPUT" in image.log.read_text()


def test_no_certificate_from_bbbscale_fails_its_step_and_still_scrubs_and_fences(image, route):
    route.unavailable = 10**6  # bbbscale has no certificate yet: the boot waits, within its bound
    run = image.run(CERT_WAIT_SECONDS="1")
    assert run.code != 0
    assert image.path("var/lib/bbbscale/firstboot.failed").read_text().startswith("step certificate failed")
    assert not image.path("etc/bbbscale/boot.env").exists() and run.called("iptables -w -I OUTPUT")


def test_a_failed_server_stays_closed_at_its_next_boot(image):
    assert image.run(STUB_FAIL="bbb-install.sh").code != 0
    again = image.run()
    assert again.code != 0 and again.calls[-1].startswith("ip6tables -w -I INPUT -p tcp --dport 443")
    assert not again.called("bbb-install.sh")


def test_the_certificate_route_answering_503_is_waited_for(image, route):
    route.unavailable = 1
    run = image.run()
    assert run.code == 0, run.stderr
    assert len(route.requests) == 2


def test_without_turn_servers_bbb_install_sets_up_its_own_coturn(tmp_path, route):
    image = ImageRoot(tmp_path, env_text=boot_env(turn_servers=[], recording_source=""), cert_url=route.url)
    run = image.run()
    assert run.code == 0, run.stderr
    assert run.calls[run.index("bbb-install.sh")] == f"bbb-install.sh -v jammy-300 -s {FQDN} -d -w"
    assert not run.called("mount") and not run.called("chown root:bigbluebutton")
    assert f'value="turn:{FQDN}:3478"' in image.path("etc/bigbluebutton/turn-stun-servers.xml").read_text()


def test_missing_parameters_fail_before_any_change(tmp_path, route):
    env = "\n".join(line for line in boot_env().splitlines() if not line.startswith("BBB_SECRET="))
    image = ImageRoot(tmp_path, env_text=env + "\n", cert_url=route.url)
    run = image.run()
    assert run.code != 0
    assert image.path("var/lib/bbbscale/firstboot.failed").read_text() == (
        "step parameters failed: BBB_SECRET is empty in boot.env\n"
    )
    assert not run.called("hostnamectl") and not image.path("etc/bbbscale/boot.env").exists()
    assert not image.path("run/cloud-init/instance-data-sensitive.json").exists()  # scrubbed all the same
    assert run.called("iptables -w -I OUTPUT -d 169.254.169.254 -j REJECT")  # and fenced


def test_nothing_to_do_without_parameters(image):
    image.path("etc/bbbscale/boot.env").unlink()
    run = image.run()
    assert run.code == 0 and run.calls == []


def test_a_name_reaching_the_vm_through_nat_is_recognised_by_its_token(image):
    run = image.run(STUB_LOCAL_IP="", STUB_RESOLVES="198.51.100.7 2001:db8::7")
    assert run.code == 0, run.stderr
    assert run.called(
        f"curl -fsS --max-time 5 --resolve {FQDN}:80:198.51.100.7 http://{FQDN}/.well-known/bbbscale/"
    )
    assert list(image.path("var/www/bigbluebutton-default/assets/.well-known/bbbscale").iterdir()) == []


def test_a_name_that_never_points_here_fails_the_dns_step_within_its_bound(image):
    run = image.run(STUB_RESOLVES="198.51.100.7", STUB_LOCAL_IP="", STUB_FAIL="curl", DNS_WAIT_SECONDS="2")
    assert run.code != 0
    assert image.path("var/lib/bbbscale/firstboot.failed").read_text() == (
        f"step dns failed: {FQDN} does not resolve to this server after 2s\n"
    )
    assert not run.called("bbb-install.sh")
    assert run.calls.count(f"dig +short A {FQDN} @ns1.example.net.") >= 2
    # a step before the gate fails: scrubbed and fenced all the same (issue 23 item 7)
    assert not image.path("etc/bbbscale/boot.env").exists()
    assert not image.path("run/cloud-init/instance-data-sensitive.json").exists()
    assert image.files_holding(SECRET) == [] and image.files_holding(TURN_SECRET) == []
    assert run.called("iptables -w -I OUTPUT -d 169.254.169.254 -j REJECT")


def test_the_metadata_fence_takes_the_providers_addresses(tmp_path, route):
    image = ImageRoot(
        tmp_path, env_text=boot_env(metadata_fence="169.254.42.42 fd00:42::42"), cert_url=route.url
    )
    run = image.run()
    assert run.code == 0, run.stderr
    assert "iptables -w -I OUTPUT -d 169.254.42.42 -j REJECT" in run.calls
    assert "ip6tables -w -I OUTPUT -d fd00:42::42 -j REJECT" in run.calls


def test_the_zone_is_found_above_a_name_that_is_no_zone_apex(image):
    """boot.domain `bbb.example.org` may sit inside the zone `example.org` ([dns] name '{server}.bbb')."""
    run = image.run(STUB_ZONE="example.org")
    assert run.code == 0, run.stderr
    assert run.calls[2:5] == [
        "dig +short NS bbb.example.org",
        "dig +short NS example.org",
        f"dig +short A {FQDN} @ns1.example.net.",
    ]


def test_an_ipv6_only_name_is_fetched_at_its_bracketed_address_and_gated_by_family(image):
    run = image.run(STUB_LOCAL_IP="", STUB_RESOLVES="2001:db8::7")
    assert run.code == 0, run.stderr
    assert run.called(f"curl -fsS --max-time 5 --resolve {FQDN}:80:[2001:db8::7] ")
    assert "iptables -w -I INPUT -p tcp --dport 443 -m addrtype ! --src-type LOCAL -j REJECT" in run.calls
    assert (
        "ip6tables -w -I INPUT -p tcp --dport 443 ! -s 2001:db8::7 -m addrtype ! --src-type LOCAL -j REJECT"
        in run.calls
    )
