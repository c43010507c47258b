"""A temporary root for running infra/image/files/bbbscale-firstboot.sh: the files a prepared BBB 3.0 image
holds, the boot.env that cloud-init writes from the real user-data template, and stub system commands
(first in PATH) that append their argv to a log, so a test sees every call in order.

A stub fails (exit 3) when its command line starts with STUB_FAIL. `certbot` writes a lineage,
`hostname -I` answers the addresses the test chose, `curl` serves the webroot (a floating-IP
setup where the name reaches this VM through NAT), `dig` answers as the zone's servers would (NS for
STUB_ZONE, the addresses of STUB_RESOLVES), `shred -u` removes its file.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from chalicelib.adapters.providers.userdata import BootOptions, render

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "infra" / "image" / "files" / "bbbscale-firstboot.sh"
TURN_TEMPLATE = REPO / "infra" / "image" / "files" / "turn-stun-servers.xml.in"
FQDN = "bbbscale-demo-ovh-7.bbb.example.org"
SECRET = "5ec7e7" * 10 + "abcd"
TURN_SECRET = "turn-s3cret"
PUBLIC_IP = "203.0.113.10"

#: What bbb-install's install_haproxy writes (abridged), with the build machine's address in it.
HAPROXY_CFG = """frontend nginx_or_turn
  bind *:443,:::443 ssl crt /etc/haproxy/certbundle.pem ssl-min-ver TLSv1.2 alpn http/1.1,stun.turn
  default_backend turn

backend turn
  mode tcp
  server localhost 192.0.2.99:3478

backend nginx
  mode tcp
  server localhost 127.0.0.1:81 send-proxy check
"""

#: coturn's configuration as bbb-install leaves it in the image (abridged): the build's addresses and secret.
TURNSERVER_CONF = """listening-ip=192.0.2.99
relay-ip=192.0.2.99
external-ip=192.0.2.99
static-auth-secret=image-shared-secret
realm=bbb-image.invalid
"""

STUB = r"""#!/bin/bash
name=$(basename "$0")
echo "$name $*" >>"$STUB_LOG"
if [ -n "${STUB_FAIL:-}" ] && [[ "$name $*" == "$STUB_FAIL"* ]]; then echo "$name: stub failure" >&2; exit 3; fi
case "$name" in
  certbot)
    live="$BBBSCALE_ROOT/etc/letsencrypt/live/${*: -1}"
    mkdir -p "$live"; echo "FULLCHAIN ${*: -1}" >"$live/fullchain.pem"; echo "PRIVKEY" >"$live/privkey.pem" ;;
  dig)  # dig +short NS <domain> | dig +short A|AAAA <name> @<server>
    case "$2" in
      NS) [ "$3" != "${STUB_ZONE:-bbb.example.org}" ] || echo "ns1.example.net." ;;
      A) for a in ${STUB_RESOLVES:-}; do [[ $a == *:* ]] || echo "$a"; done ;;
      AAAA) for a in ${STUB_RESOLVES:-}; do [[ $a != *:* ]] || echo "$a"; done ;;
    esac ;;
  hostname) echo "10.0.0.5 ${STUB_LOCAL_IP:-}" ;;
  curl) path="${*: -1}"; path="/${path#http://*/}"; cat "$BBBSCALE_ROOT/var/www/bigbluebutton-default/assets$path" ;;
  shred) rm "${*: -1}" ;;  # fails on a missing file, as shred does
  systemctl) [ "$1" != is-active ] || exit "${STUB_HAPROXY_INACTIVE:-3}" ;;
esac
exit 0
"""
COMMANDS = (
    "hostnamectl mount dig hostname curl certbot haproxy chown systemctl bbb-conf shred iptables ip6tables"
).split()


def boot_env(**overrides) -> str:
    """boot.env as cloud-init writes it: the write_files content of the real user-data template."""
    options = {
        "domain": "bbb.example.org",
        "turn_server": "turns:turn.example.org:443?transport=tcp",
        "recording_source": "nfs.example.org:/rec",
        "scalelite_url": "https://lb.example.org",
        "letsencrypt_email": "ops@example.org",
        **overrides,
    }
    boot = BootOptions(**options)
    text = render(
        boot,
        name="bbbscale-demo-ovh-7",
        cluster="demo",
        hostname=FQDN,
        secret=SECRET,
        turn_secret=TURN_SECRET,
    )
    return yaml.safe_load(text)["write_files"][0]["content"]


@dataclass
class Run:
    code: int
    stderr: str
    calls: list[str]

    def called(self, prefix: str) -> bool:
        return any(call.startswith(prefix) for call in self.calls)

    def index(self, prefix: str) -> int:
        return next(i for i, call in enumerate(self.calls) if call.startswith(prefix))


class ImageRoot:
    """The temporary root, its stubs, and a way to run the script (or a file it wrote) inside it."""

    def __init__(self, base: Path, env_text: str | None = None):
        self.root = base / "root"
        self.stubs = base / "stubs"
        self.log = base / "calls.log"
        self.stubs.mkdir(parents=True)
        for command in COMMANDS:
            stub = self.stubs / command
            stub.write_text(STUB)
            stub.chmod(0o755)
        self.write("etc/bbbscale/boot.env", boot_env() if env_text is None else env_text, 0o600)
        self.write("etc/bbbscale/turn-stun-servers.xml.in", TURN_TEMPLATE.read_text(), 0o644)
        self.write("etc/haproxy/haproxy.cfg", HAPROXY_CFG)
        self.write("etc/turnserver.conf", TURNSERVER_CONF)
        self.write("etc/fstab", "LABEL=root / ext4 defaults 0 1\n")
        self.write(
            "opt/freeswitch/conf/vars.xml",
            '<X-PRE-PROCESS cmd="set" data="external_rtp_ip=192.0.2.99"/>\n'
            '<X-PRE-PROCESS cmd="set" data="external_sip_ip=192.0.2.99"/>\n',
        )
        self.write("var/www/bigbluebutton-default/assets/index.html", "BBB")
        user_data = f"#cloud-config\n  BBB_SECRET={SECRET}\n"
        self.write("var/lib/cloud/instances/i-123/user-data.txt", user_data, 0o600)
        self.write("var/lib/cloud/instances/i-123/user-data.txt.i", user_data, 0o600)
        self.write("var/lib/cloud/instances/i-123/obj.pkl", user_data, 0o600)
        self.write("var/log/cloud-init.log", f"wrote user data BBB_SECRET={SECRET}\n")
        self.write("var/lib/cloud/instances/i-123/cloud-config.txt", f"write_files: BBB_SECRET={SECRET}\n")
        self.write("var/lib/cloud/instances/i-123/datasource", "DataSourceOpenStackLocal\n")
        self.write(
            "run/cloud-init/instance-data-sensitive.json", f'{{"merged_cfg": "TURN_SECRET={TURN_SECRET}"}}'
        )
        self.write("run/cloud-init/instance-data.json", '{"merged_cfg": "redacted for non-root user"}')
        self.write("var/log/cloud-init-output.log", "Cloud-init finished\n")
        (self.root / "var/lib/cloud/instance").symlink_to("instances/i-123")

    def path(self, relative: str) -> Path:
        return self.root / relative

    def write(self, relative: str, text: str, mode: int = 0o644) -> None:
        target = self.path(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        target.chmod(mode)

    def run(self, command: list[str] | None = None, **env) -> Run:
        if self.log.exists():
            self.log.unlink()
        self.log.touch()
        full_env = {
            "PATH": f"{self.stubs}:{os.environ['PATH']}",
            "BBBSCALE_ROOT": str(self.root),
            "STUB_LOG": str(self.log),
            "STUB_RESOLVES": PUBLIC_IP,
            "STUB_LOCAL_IP": PUBLIC_IP,
            "DNS_WAIT_SECONDS": "1",
            "DNS_WAIT_INTERVAL": "0.2",
            **env,
        }
        result = subprocess.run(
            command or ["bash", str(SCRIPT)], env=full_env, capture_output=True, text=True, timeout=60
        )
        return Run(result.returncode, result.stderr, self.log.read_text().splitlines())

    def files_holding(self, text: str) -> list[str]:
        """Every file under the root whose bytes contain `text`."""
        found = []
        for path in self.root.rglob("*"):
            if path.is_file() and not path.is_symlink() and text.encode() in path.read_bytes():
                found.append(str(path.relative_to(self.root)))
        return sorted(found)
