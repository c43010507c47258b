"""The prepared image's first boot (infra/image/files/bbbscale-firstboot.sh), run for real against a
temporary root with stub system commands (tests/integration/firstboot_root.py): every file it writes,
the order of its steps, no secret left behind, and a loud stop at each failing step."""

import re
import stat

import pytest

from tests.integration.firstboot_root import FQDN, PUBLIC_IP, SECRET, TURN_SECRET, ImageRoot, boot_env

#: The system calls of a successful first boot, in order (prefixes of the stubs' argv lines).
EXPECTED = [
    f"hostnamectl set-hostname {FQDN}",
    "mount /mnt/scalelite-recordings",
    "dig +short NS bbb.example.org",  # the zone's own servers are asked: no cache, no /etc/hosts
    f"dig +short A {FQDN} @ns1.example.net.",
    f"dig +short AAAA {FQDN} @ns1.example.net.",
    "hostname -I",
    "hostname -I",  # the addresses step
    "certbot certonly --non-interactive --agree-tos -m ops@example.org --webroot -w ",
    "chown root:haproxy ",
    "systemctl is-active --quiet haproxy.service",
    "haproxy -c -q -f ",
    "chown root:bigbluebutton ",
    f"bbb-conf --setip {FQDN}",
    f"bbb-conf --setsecret {SECRET}",
    "shred -u ",  # boot.env, cloud-init's copies of the user data, then every file holding a secret:
    "shred -u ",  # its merged config, the sensitive instance data, the log that echoed it
    "shred -u ",
    "shred -u ",
    "shred -u ",
    "shred -u ",
    "shred -u ",
    "iptables -w -I OUTPUT -d 169.254.169.254 -j REJECT",
    "ip6tables -w -I OUTPUT -d fd00:ec2::254 -j REJECT",
    "bbb-conf --restart",
    "systemctl restart coturn.service",  # the image's coturn, with its new secret
    "systemctl enable --now haproxy.service",
]


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def image(tmp_path):
    return ImageRoot(tmp_path)


def test_a_first_boot_sets_up_tls_turn_secret_and_scalelite_for_its_own_name(image):
    run = image.run()
    assert run.code == 0, run.stderr
    assert len(run.calls) == len(EXPECTED)
    for call, expected in zip(run.calls, EXPECTED, strict=True):
        assert call.startswith(expected), (call, expected)
    assert f"-d {FQDN} --cert-name {FQDN}" in run.calls[7]

    # haproxy's bundle: fullchain then key, root:haproxy 0640; the renewal hook that rebuilds it.
    bundle = image.path("etc/haproxy/certbundle.pem")
    assert bundle.read_text() == f"FULLCHAIN {FQDN}\nPRIVKEY\n" and mode(bundle) == 0o640
    assert run.calls[8] == f"chown root:haproxy {bundle}.new"
    hook = image.path("etc/letsencrypt/renewal-hooks/deploy/haproxy")
    assert mode(hook) == 0o755 and "systemctl reload haproxy.service" in hook.read_text()

    turn = image.path("etc/bigbluebutton/turn-stun-servers.xml")
    assert mode(turn) == 0o640
    assert '<constructor-arg index="0" value="stun:turn.example.org:443"/>' in turn.read_text()
    assert f'value="{TURN_SECRET}"' in turn.read_text()
    assert 'value="turns:turn.example.org:443?transport=tcp"' in turn.read_text()

    scalelite = image.path("etc/bbbscale/scalelite.env")
    assert scalelite.read_text() == (
        "SCALELITE_URL=https://lb.example.org\nSCALELITE_TAG=bbbscale\nBBBSCALE_SERVER_NAME=bbbscale-demo-ovh-7\n"
    )
    assert mode(scalelite) == 0o644
    assert "nfs.example.org:/rec /mnt/scalelite-recordings nfs defaults,_netdev 0 0" in (
        image.path("etc/fstab").read_text()
    )
    assert image.path("mnt/scalelite-recordings").is_dir()
    # The build machine's addresses replaced by this VM's: public in SDP and for coturn, local for haproxy.
    vars_xml = image.path("opt/freeswitch/conf/vars.xml").read_text()
    assert f"external_rtp_ip={PUBLIC_IP}" in vars_xml and f"external_sip_ip={PUBLIC_IP}" in vars_xml
    haproxy = image.path("etc/haproxy/haproxy.cfg").read_text()
    assert "server localhost 10.0.0.5:3478" in haproxy and "server localhost 127.0.0.1:81" in haproxy
    coturn = image.path("etc/turnserver.conf").read_text().splitlines()
    assert coturn[:3] == ["listening-ip=10.0.0.5", "relay-ip=10.0.0.5", f"external-ip={PUBLIC_IP}/10.0.0.5"]
    assert coturn[4] == f"realm={FQDN}" and re.fullmatch("static-auth-secret=[0-9a-f]{64}", coturn[3])
    assert "192.0.2.99" not in " ".join(image.files_holding("192.0.2.99"))

    assert image.path("var/lib/bbbscale/firstboot.done").exists()
    assert not image.path("var/lib/bbbscale/firstboot.failed").exists()
    fenced = image.path("var/lib/bbbscale/metadata-fenced")
    assert fenced.read_text() == "169.254.169.254\nfd00:ec2::254\n"
    assert image.path("etc/cloud/cloud-init.disabled").exists()


def test_no_secret_is_left_behind(image):
    assert image.run().code == 0
    # bbb-conf (stubbed) keeps the BBB secret in bbb-web's properties, as BBB needs; nothing else may.
    assert image.files_holding(SECRET) == []
    assert image.files_holding(TURN_SECRET) == ["etc/bigbluebutton/turn-stun-servers.xml"]
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
    for kept in (  # they hold no secret
        "var/log/cloud-init-output.log",
        "var/lib/cloud/instances/i-123/datasource",
        "run/cloud-init/instance-data.json",
    ):
        assert image.path(kept).exists(), kept


def test_the_renewal_hook_rebuilds_the_bundle_and_reloads_haproxy(image):
    assert image.run().code == 0
    live = image.path(f"etc/letsencrypt/live/{FQDN}")
    (live / "fullchain.pem").write_text("RENEWED CHAIN\n")
    hook = image.path("etc/letsencrypt/renewal-hooks/deploy/haproxy")
    run = image.run([str(hook)], RENEWED_LINEAGE=str(live), STUB_HAPROXY_INACTIVE="0")
    assert run.code == 0, run.stderr
    assert image.path("etc/haproxy/certbundle.pem").read_text() == "RENEWED CHAIN\nPRIVKEY\n"
    assert mode(image.path("etc/haproxy/certbundle.pem")) == 0o640
    assert run.calls[-1] == "systemctl reload haproxy.service"


def test_a_name_reaching_the_vm_through_nat_is_recognised_by_its_token(image):
    """A floating IP is on no interface: the name must then serve back a token written in the webroot."""
    run = image.run(STUB_LOCAL_IP="", STUB_RESOLVES="198.51.100.7 2001:db8::7")
    assert run.code == 0, run.stderr
    # Fetched at the address the zone gave, whatever /etc/hosts or a local resolver would say.
    assert run.called(
        f"curl -fsS --max-time 5 --resolve {FQDN}:80:198.51.100.7 http://{FQDN}/.well-known/bbbscale/"
    )
    assert "external_rtp_ip=198.51.100.7" in image.path("opt/freeswitch/conf/vars.xml").read_text()
    assert list(image.path("var/www/bigbluebutton-default/assets/.well-known/bbbscale").iterdir()) == []


# (step, what fails, the first call that must not happen)
FAILURES = [
    ("hostname", "hostnamectl", "mount"),
    ("addresses", "hostname -I", "certbot"),  # the dns step tolerates it (the name answers the token)
    ("recordings", "mount", "dig"),
    ("certificate", "certbot", "chown root:haproxy"),
    ("haproxy-certificate", "chown root:haproxy", "haproxy -c"),  # inside the deploy hook
    ("haproxy-certificate", "haproxy -c", "chown root:bigbluebutton"),
    ("turn", "chown root:bigbluebutton", "bbb-conf --setip"),
    ("bbb", "bbb-conf --setip", "bbb-conf --setsecret"),
    ("bbb", "bbb-conf --setsecret", "iptables"),
    ("scrub", "shred -u", "iptables"),
    ("metadata-fence", "iptables", "bbb-conf --restart"),
    ("metadata-fence", "ip6tables", "bbb-conf --restart"),
    ("start", "bbb-conf --restart", "systemctl enable --now haproxy.service"),
    ("start", "systemctl enable --now haproxy.service", None),
]


@pytest.mark.parametrize(("step", "failing", "never"), FAILURES, ids=[f"{s}:{f}" for s, f, _ in FAILURES])
def test_a_failing_step_stops_the_boot_loudly_and_the_server_never_serves(image, step, failing, never):
    run = image.run(STUB_FAIL=failing)
    assert run.code != 0
    reason = image.path("var/lib/bbbscale/firstboot.failed").read_text()
    why = {
        "chown root:haproxy": "the deploy hook could not build haproxy's certificate bundle",
        "hostname -I": "cannot read this VM's interface addresses",
    }.get(failing, f"{failing.split()[0]} exited 3")
    assert reason == f"step {step} failed: {why}\n"
    assert f"FAILED at step {step}" in run.stderr
    assert not image.path("var/lib/bbbscale/firstboot.done").exists()
    if never:
        assert not run.called(never)
    # haproxy (HTTPS, hence the BBB API) stays off; the parameter file is gone all the same.
    assert run.calls[-1] in (
        "systemctl disable --now haproxy.service",
        f"shred -u {image.path('etc/bbbscale/boot.env')}",
    )
    assert run.called("systemctl disable --now haproxy.service")
    assert not run.called("systemctl enable --now haproxy.service") or step == "start"
    assert not image.path("etc/bbbscale/boot.env").exists()
    assert SECRET not in run.stderr and SECRET not in reason


def test_a_name_that_never_points_here_fails_the_dns_step_within_its_bound(image):
    run = image.run(STUB_RESOLVES="198.51.100.7", STUB_LOCAL_IP="", STUB_FAIL="curl", DNS_WAIT_SECONDS="2")
    assert run.code != 0
    assert image.path("var/lib/bbbscale/firstboot.failed").read_text() == (
        f"step dns failed: {FQDN} does not resolve to this server after 2s\n"
    )
    assert not run.called("certbot")
    assert run.calls.count(f"dig +short A {FQDN} @ns1.example.net.") >= 2  # it waited and asked again


def test_the_zone_is_found_above_a_name_that_is_no_zone_apex(image):
    """boot.domain `bbb.example.org` may sit inside the zone `example.org` ([dns] name '{server}.bbb')."""
    run = image.run(STUB_ZONE="example.org")
    assert run.code == 0, run.stderr
    assert run.calls[2:5] == [
        "dig +short NS bbb.example.org",
        "dig +short NS example.org",
        f"dig +short A {FQDN} @ns1.example.net.",
    ]


def test_an_ipv6_only_name_is_fetched_at_its_bracketed_address(image):
    run = image.run(STUB_LOCAL_IP="", STUB_RESOLVES="2001:db8::7")
    assert run.code == 0, run.stderr
    assert run.called(f"curl -fsS --max-time 5 --resolve {FQDN}:80:[2001:db8::7] ")


def test_an_unresolvable_name_fails_the_dns_step(image):
    run = image.run(STUB_RESOLVES="")
    assert run.code != 0 and not run.called("certbot")
    assert "step dns failed" in image.path("var/lib/bbbscale/firstboot.failed").read_text()


def test_missing_parameters_fail_before_any_change(tmp_path):
    env = "\n".join(line for line in boot_env().splitlines() if not line.startswith("BBB_SECRET="))
    image = ImageRoot(tmp_path, env_text=env)
    run = image.run()
    assert run.code != 0
    assert image.path("var/lib/bbbscale/firstboot.failed").read_text() == (
        "step parameters failed: BBB_SECRET is empty in boot.env\n"
    )
    assert not run.called("hostnamectl")


def test_nothing_to_do_without_parameters_or_once_done(image):
    image.path("etc/bbbscale/boot.env").unlink()
    assert image.run() == image.run() and image.run().calls == []
    image.write("etc/bbbscale/boot.env", boot_env(), 0o600)
    image.write("var/lib/bbbscale/firstboot.done", "")
    run = image.run()
    assert run.code == 0 and run.calls == []


def test_without_an_external_turn_server_the_images_coturn_serves_with_a_secret_of_its_own(tmp_path):
    image = ImageRoot(tmp_path, env_text=boot_env(recording_source="", turn_server=""))
    run = image.run()
    assert run.code == 0, run.stderr
    assert not run.called("mount")
    (secret_line,) = [x for x in image.path("etc/turnserver.conf").read_text().splitlines() if "secret" in x]
    own = secret_line.split("=", 1)[1]
    assert re.fullmatch("[0-9a-f]{64}", own) and own != "image-shared-secret"
    turn = image.path("etc/bigbluebutton/turn-stun-servers.xml").read_text()
    assert f'value="turns:{FQDN}:443?transport=tcp"' in turn and f'value="{own}"' in turn
    assert f'value="stun:{FQDN}:443"' in turn
    assert run.called("chown root:bigbluebutton") and run.called("systemctl restart coturn.service")
    other = ImageRoot(tmp_path / "other", env_text=boot_env(recording_source="", turn_server=""))
    assert other.run().code == 0
    assert other.path("etc/turnserver.conf").read_text() != image.path("etc/turnserver.conf").read_text()


def test_without_any_turn_server_the_turn_step_does_nothing(tmp_path):
    image = ImageRoot(tmp_path, env_text=boot_env(turn_server=""))
    image.path("etc/turnserver.conf").unlink()
    run = image.run()
    assert run.code == 0, run.stderr
    assert not run.called("chown root:bigbluebutton") and not run.called("systemctl restart coturn")
    assert not image.path("etc/bigbluebutton/turn-stun-servers.xml").exists()


def test_a_turn_secret_with_markup_and_sed_characters_is_written_as_it_is(tmp_path):
    """The TURN secret lands in an XML attribute: escaped for XML, never interpreted by sed or bash."""
    tricky = 'a&b<c>"d#e\\f/g$h'
    image = ImageRoot(tmp_path, env_text=boot_env().replace(
        f"TURN_SECRET={TURN_SECRET}", "TURN_SECRET=" + "'" + tricky + "'"))  # fmt: skip
    assert image.run().code == 0
    turn = image.path("etc/bigbluebutton/turn-stun-servers.xml").read_text()
    import xml.etree.ElementTree as ElementTree

    values = [arg.get("value") for arg in ElementTree.fromstring(turn).iter() if arg.get("value")]
    assert tricky in values


def test_the_metadata_fence_takes_the_providers_addresses(tmp_path):
    image = ImageRoot(tmp_path, env_text=boot_env(metadata_fence="169.254.42.42 fd00:42::42"))
    run = image.run()
    assert run.code == 0, run.stderr
    assert "iptables -w -I OUTPUT -d 169.254.42.42 -j REJECT" in run.calls
    assert "ip6tables -w -I OUTPUT -d fd00:42::42 -j REJECT" in run.calls
    assert not run.called("iptables -w -I OUTPUT -d 169.254.169.254")
    none = ImageRoot(tmp_path / "none", env_text=boot_env(metadata_fence=""))
    assert none.run().code == 0 and not none.run().called("iptables")
