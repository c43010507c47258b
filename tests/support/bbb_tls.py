"""bbb-install v3.0's TLS layout, reproduced in a temporary directory on loopback ports the OS picked,
with the real haproxy and nginx (Debian packages), run as the test's user.

What comes from bbb-install (branch v3.0.x-release, bbb-install.sh):
- install_ssl with a provided certificate (`-d`): /local/certs/fullchain.pem and privkey.pem, linked
  into /etc/letsencrypt/live/$HOST/ ("ln -s /local/certs/fullchain.pem ...");
- install_haproxy's deploy hook /etc/letsencrypt/renewal-hooks/deploy/haproxy:
  "{ cat .../live/$HOST/fullchain.pem; echo; cat .../live/$HOST/privkey.pem; } > /etc/haproxy/certbundle.pem.new",
  chmod 0640, mv over /etc/haproxy/certbundle.pem, "systemctl reload haproxy";
- install_haproxy's frontend: "bind *:443,:::443 ssl crt /etc/haproxy/certbundle.pem ssl-min-ver TLSv1.2
  alpn h2,http/1.1,stun.turn", mode tcp, "use_backend nginx-http2 if { ssl_fc_alpn h2 }",
  "use_backend nginx if { ssl_fc_alpn http/1.1 }"; backends "server localhost 127.0.0.1:81 send-proxy
  check" and "server localhost 127.0.0.1:82 send-proxy check";
- install_ssl's nginx site: "listen 127.0.0.1:82 http2 proxy_protocol;" and "listen 127.0.0.1:81
  proxy_protocol;", `set_real_ip_from 127.0.0.1; real_ip_header proxy_protocol;`, `absolute_redirect off`,
  the landing page root.
Changed for a test: ports 443/81/82 become free loopback ports, no TURN backend (bbb-install's default
backend is coturn; here the default is nginx), no chroot/user/daemon (not root), and haproxy runs in
master-worker mode so SIGUSR2 reloads it as `systemctl reload haproxy` does on Debian.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

from tests.support.pebble import free_port

MISSING = [tool for tool in ("haproxy", "nginx") if shutil.which(tool) is None]
LANDING = "bbbscale landing page behind haproxy\n"


def install_certificate(root: Path, host: str, fullchain: str, privkey: str) -> Path:
    """What the first boot and bbb-install -d leave: /local/certs/*.pem (0600), the live/ links, and the
    bundle the deploy hook writes (0640). Returns the bundle's path."""
    certs, live = root / "local/certs", root / f"etc/letsencrypt/live/{host}"
    certs.mkdir(parents=True, exist_ok=True)
    live.mkdir(parents=True, exist_ok=True)
    for name, text in (("fullchain.pem", fullchain), ("privkey.pem", privkey)):
        target = certs / name
        target.write_text(text)
        target.chmod(0o600)
        if not (live / name).is_symlink():
            (live / name).symlink_to(target)
    return deploy_hook(root, host)


def deploy_hook(root: Path, host: str) -> Path:
    """bbb-install's renewal-hooks/deploy/haproxy, minus the reload (the caller signals haproxy)."""
    live, bundle = root / f"etc/letsencrypt/live/{host}", root / "etc/haproxy/certbundle.pem"
    bundle.parent.mkdir(parents=True, exist_ok=True)
    fresh = bundle.with_suffix(".pem.new")
    fresh.touch()
    fresh.chmod(0o640)
    fresh.write_text((live / "fullchain.pem").read_text() + "\n" + (live / "privkey.pem").read_text())
    os.replace(fresh, bundle)
    return bundle


class BbbTls:
    """haproxy on `port` (TLS) in front of nginx on two proxy-protocol ports, as bbb-install lays them."""

    def __init__(self, root: Path, host: str):
        self.root, self.host = root, host
        self.port, self.http1, self.http2 = free_port(), free_port(), free_port()
        self.processes: list[subprocess.Popen] = []

    def write(self) -> None:
        site = self.root / "var/www/bigbluebutton-default/assets"
        site.mkdir(parents=True, exist_ok=True)
        (site / "index.html").write_text(LANDING)
        nginx = self.root / "nginx"
        (nginx / "logs").mkdir(parents=True, exist_ok=True)
        # as root (CI containers), nginx's workers would drop to `nobody`, which cannot read pytest's
        # 0700 temporary directory: keep them as the user running the test
        user = f"user {getpass.getuser()};\n" if os.geteuid() == 0 else ""
        (nginx / "nginx.conf").write_text(
            f"""{user}pid {nginx}/nginx.pid;
error_log {nginx}/logs/error.log;
events {{ worker_connections 64; }}
http {{
  client_body_temp_path {nginx}/body; proxy_temp_path {nginx}/proxy; fastcgi_temp_path {nginx}/fastcgi;
  uwsgi_temp_path {nginx}/uwsgi; scgi_temp_path {nginx}/scgi;
  access_log {nginx}/logs/access.log;
  server_tokens off;
  set_real_ip_from 127.0.0.1;
  real_ip_header proxy_protocol;
  real_ip_recursive on;
  server {{
    listen 127.0.0.1:{self.http2} http2 proxy_protocol;
    listen 127.0.0.1:{self.http1} proxy_protocol;
    server_name {self.host};
    absolute_redirect off;
    location / {{ root {site}; index index.html; }}
  }}
}}
"""
        )
        bundle = self.root / "etc/haproxy/certbundle.pem"
        (self.root / "etc/haproxy/haproxy.cfg").write_text(
            f"""global
  ssl-default-bind-options ssl-min-ver TLSv1.2
defaults
  mode http
  timeout connect 5000
  timeout client 50000
  timeout server 50000
frontend nginx_or_turn
  bind 127.0.0.1:{self.port} ssl crt {bundle} ssl-min-ver TLSv1.2 alpn h2,http/1.1
  mode tcp
  use_backend nginx-http2 if {{ ssl_fc_alpn h2 }}
  use_backend nginx if {{ ssl_fc_alpn http/1.1 }}
  default_backend nginx
backend nginx
  mode tcp
  server localhost 127.0.0.1:{self.http1} send-proxy check
backend nginx-http2
  mode tcp
  server localhost 127.0.0.1:{self.http2} send-proxy check
"""
        )

    def start(self) -> None:
        self.write()
        nginx = self.root / "nginx"
        logs = (self.root / "nginx.out").open("wb"), (self.root / "haproxy.out").open("wb")
        self.processes.append(
            subprocess.Popen(
                ["nginx", "-p", str(nginx), "-c", str(nginx / "nginx.conf"), "-g", "daemon off;"],
                stdout=logs[0],
                stderr=subprocess.STDOUT,
            )
        )
        self.processes.append(
            subprocess.Popen(
                ["haproxy", "-W", "-db", "-f", str(self.root / "etc/haproxy/haproxy.cfg")],
                stdout=logs[1],
                stderr=subprocess.STDOUT,
            )
        )
        for port in (self.http1, self.http2, self.port):
            _wait_port(port)

    def reload_haproxy(self) -> None:
        """`systemctl reload haproxy` on Debian: SIGUSR2 to the master, which re-reads the bundle."""
        self.processes[1].send_signal(signal.SIGUSR2)

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_port(port: int, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def tls_client(root_pem: str, name: str, alpn: str) -> ssl.SSLContext:
    """A client trusting only `root_pem`, checking the certificate against `name`."""
    context = ssl.create_default_context(cadata=root_pem)
    context.set_alpn_protocols([alpn])
    return context
