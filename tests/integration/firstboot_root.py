"""A temporary root for running infra/image/files/bbbscale-firstboot.sh: the files a prepared BBB 3.0 image
holds (tests/fixtures/bbb/image: upstream files, named there, with the build machine's address 192.0.2.99),
the boot.env cloud-init writes from the real user-data template, stub system commands first in PATH that
append their argv to a log, and bbbscale's certificate route served on loopback.

A stub fails (exit 3) when its command line starts with STUB_FAIL. `hostname -I` answers 10.0.0.5 and
STUB_LOCAL_IP; `dig` answers as the zone's servers would (NS for STUB_ZONE, the addresses of
STUB_RESOLVES); `curl` serves the webroot (the NAT token); `shred -u` removes its file. The stubbed
`bbb-install.sh` records its argv and makes the edits bbb-install v3.0 makes to these files (each with the
upstream function it stands for); `dpkg-reconfigure` makes the edits of the package's after-install.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

from chalicelib.adapters.providers.userdata import BootOptions, render
from tests.integration.firstboot_stubs import BBB_CONF, BBB_INSTALL, COMMANDS, DPKG_RECONFIGURE, STUB

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "infra" / "image" / "files" / "bbbscale-firstboot.sh"
CERT_TOOL = REPO / "infra" / "image" / "files" / "bbbscale-cert"
IMAGE = REPO / "tests" / "fixtures" / "bbb" / "image"
NAME = "bbbscale-demo-ovh-7"
FQDN = f"{NAME}.bbb.example.org"
SECRET = "5ec7e7" * 10 + "abcd"
TURN_SECRET = "turn-s3cret"
PUBLIC_IP = "203.0.113.10"
BUILD_IP = "192.0.2.99"
CHAIN = "-----BEGIN CERTIFICATE-----\nMIIwildcard\n-----END CERTIFICATE-----\n"
KEY = "-----BEGIN PRIVATE KEY-----\nMIIsecretkey\n-----END PRIVATE KEY-----\n"


def boot_env(**overrides) -> str:
    """boot.env as cloud-init writes it: the write_files content of the real user-data template."""
    options = {
        "domain": "bbb.example.org",
        "turn_servers": ["turn1.example.org", "turn2.example.org"],
        "recording_source": "nfs.example.org:/rec",
        **overrides,
    }
    text = render(
        BootOptions(**options),
        name=NAME,
        cluster="demo",
        hostname=FQDN,
        secret=SECRET,
        turn_secret=TURN_SECRET,
    )
    return yaml.safe_load(text)["write_files"][0]["content"]


class CertRoute:
    """bbbscale's certificate route on loopback, as the agreed interface says: a valid token of this
    server's gets the wildcard certificate; `unavailable` answers 503 first (none issued yet)."""

    def __init__(self, unavailable: int = 0, name: str | None = NAME):
        self.unavailable = unavailable
        self.name = name  # None: any server's name
        self.chain = CHAIN
        self.requests: list[str] = []
        route = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                route.requests.append(self.headers.get("Authorization", ""))
                status, body = route.answer(self.headers.get("Authorization", ""))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(json.dumps(body).encode())

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/fleet/certificate"

    def answer(self, header: str) -> tuple[int, dict]:
        name, _, rest = header.removeprefix("Bearer ").partition(".")
        expiry, _, mac = rest.partition(".")
        good = hmac.new(
            self.secret(name).encode(), f"bbbscale-cert:{name}:{expiry}".encode(), hashlib.sha256
        ).hexdigest()
        if (
            self.name not in (None, name)
            or not hmac.compare_digest(mac, good)
            or not (time.time() < int(expiry) < time.time() + 600)
        ):
            return 401, {"error": "bad token"}
        if self.unavailable > 0:
            self.unavailable -= 1
            return 503, {"error": "no certificate issued yet"}
        return 200, {
            "fullchain": self.chain,
            "privkey": KEY,
            "not_after": "2027-03-01T00:00:00+00:00",
            "domain": "*.x",
        }

    def secret(self, name: str) -> str:
        return SECRET

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Run:
    code: int
    stderr: str
    calls: list[str]
    seconds: float

    def called(self, prefix: str) -> bool:
        return any(call.startswith(prefix) for call in self.calls)

    def index(self, prefix: str) -> int:
        return next(i for i, call in enumerate(self.calls) if call.startswith(prefix))


class ImageRoot:
    """The temporary root, its stubs, and a way to run the script (or a tool it installs) inside it."""

    def __init__(self, base: Path, env_text: str | None = None, cert_url: str = "https://bbbscale.invalid/x"):
        self.root = base / "root"
        self.stubs = base / "stubs"
        self.log = base / "calls.log"
        self.stubs.mkdir(parents=True)
        for command, text in [(c, STUB) for c in COMMANDS] + [
            ("bbb-install.sh", BBB_INSTALL),
            ("dpkg-reconfigure", DPKG_RECONFIGURE),
            ("bbb-conf", BBB_CONF),
        ]:
            stub = self.stubs / command
            stub.write_text(text)
            stub.chmod(0o755)
        (self.stubs / "cksum").unlink()  # the real one: the TURN server is picked by the name's checksum
        env = boot_env() if env_text is None else env_text
        # CERT_URL (the agreed cert-delivery interface) points at this test's route, whatever the
        # user data's renderer put there.
        env = "".join(line + "\n" for line in env.splitlines() if not line.startswith("CERT_URL="))
        env += f"CERT_URL={cert_url}\n"
        self.write("etc/bbbscale/boot.env", env, 0o600)
        self.write("etc/fstab", "LABEL=root / ext4 defaults 0 1\n")
        self.write("opt/freeswitch/conf/vars.xml", (IMAGE / "vars.xml").read_text())
        self.write("usr/share/bigbluebutton/nginx/sip.nginx", (IMAGE / "sip.nginx").read_text())
        default_yml = (IMAGE / "webrtc-sfu-default.yml").read_text()
        self.write("usr/local/bigbluebutton/bbb-webrtc-sfu/config/default.yml", default_yml)
        self.write(
            "etc/bigbluebutton/bbb-webrtc-sfu/production.yml", "freeswitch:\n  esl_password: 0badc0de\n"
        )
        turn = (IMAGE / "turn-stun-servers.xml.bbb-install").read_text()
        turn = turn.replace("$COTURN_HOST", "turn.invalid").replace("$COTURN_SECRET", "build-placeholder")
        self.write("etc/bigbluebutton/turn-stun-servers.xml", turn)
        self.write(
            "etc/bigbluebutton/bbb-web.properties",
            "bigbluebutton.web.serverURL=http://bbb-image.invalid\nsecuritySalt=build-salt\n",
        )
        self.write(
            "usr/local/bigbluebutton/core/scripts/scalelite.yml", (IMAGE / "scalelite.yml").read_text()
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

    def env(self, **env) -> dict[str, str]:
        """The environment a run gets: stubs first in PATH, the root, the stubs' settings (fresh log)."""
        if self.log.exists():
            self.log.unlink()
        self.log.touch()
        return {
            "PATH": f"{self.stubs}:{os.environ['PATH']}",
            "BBBSCALE_ROOT": str(self.root),
            "STUB_LOG": str(self.log),
            "STUB_RESOLVES": PUBLIC_IP,
            "STUB_LOCAL_IP": PUBLIC_IP,
            "CERT_TOOL": str(CERT_TOOL),
            "BBB_IMAGE": str(IMAGE),
            "CERT_WAIT_SECONDS": "5",
            "DNS_WAIT_SECONDS": "1",
            "DNS_WAIT_INTERVAL": "0.2",
            **env,
        }

    def run(self, command: list[str] | None = None, **env) -> Run:
        full_env = self.env(**env)
        started = time.monotonic()
        result = subprocess.run(
            command or ["bash", str(SCRIPT)], env=full_env, capture_output=True, text=True, timeout=60
        )
        elapsed = time.monotonic() - started
        return Run(result.returncode, result.stderr, self.log.read_text().splitlines(), elapsed)

    def files_holding(self, text: str) -> list[str]:
        """Every file under the root whose bytes contain `text` (symlinks not followed)."""
        found = []
        for path in self.root.rglob("*"):
            if path.is_file() and not path.is_symlink() and text.encode() in path.read_bytes():
                found.append(str(path.relative_to(self.root)))
        return sorted(found)
