"""Cloud-init user data for a new BBB server, rendered from `cloud-init.yaml.tmpl` beside this file.

The prepared image (infra/image) reads the parameters at first boot and configures BBB with them.

Per-server BBB secret: HMAC-SHA256(cluster master key, server name), hex. Each VM gets its own secret
(one leaked VM does not expose the others), nothing stores it in a file or a database on our side, and
the core recomputes it whenever it registers the server in Scalelite. The master key comes from the
secret store as BBBSCALE_SERVER_SECRET_KEY; rotating it means replacing the servers.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import shlex
from pathlib import Path
from string import Template
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.config import SecretName
from chalicelib.ports import ProviderError

TEMPLATE = Path(__file__).with_name("cloud-init.yaml.tmpl")
MASTER_KEY_SECRET = "BBBSCALE_SERVER_SECRET_KEY"
DNS_NAME = r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$"


class BootOptions(BaseModel):
    """First-boot parameters shared by every server of a provider (`[providers.X.options.boot]`).

    A server's hostname is `<server name>.<domain>`, or, when `hostnames` is given, the first name of
    that pool no running VM uses (for DNS records made in advance). Secrets are named, never held."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    domain: str = Field("bbb.example.org", pattern=DNS_NAME)
    hostnames: list[Annotated[str, Field(pattern=DNS_NAME)]] = Field(
        default_factory=list, description="pool of prepared DNS names"
    )
    turn_servers: list[Annotated[str, Field(pattern=DNS_NAME)]] = Field(
        default_factory=list,
        description="shared TURN servers (bbb-install -c): each VM uses one, picked by name, and lists the others",
    )
    turn_server: str = Field("", description="one more TURN server as a URL (turns:turn.example.org:443?...)")
    turn_secret_env: SecretName = "BBBSCALE_TURN_SECRET"
    recording_source: str = Field("", description="NFS export holding recordings, e.g. nfs.example.org:/rec")
    recording_mount: str = "/mnt/scalelite-recordings"
    recording_fstype: str = "nfs"
    # Read by nothing on the VM any more (the transfer needs only the spool; the certificate comes from
    # bbbscale): kept so configurations that set them still load.
    scalelite_url: str = ""
    scalelite_tag: str = "bbbscale"
    letsencrypt_email: str = ""
    cert_url: str = Field(
        "",
        pattern=r"^(https://[^\s'\"]+)?$",
        description="bbbscale's /fleet/certificate URL: the first boot fetches the fleet's wildcard "
        "certificate there (docs/certificates.md); needed with [certificates]",
    )
    metadata_fence: str = Field(
        "169.254.169.254 fd00:ec2::254",
        pattern=r"^[0-9a-fA-F.: ]*$",
        description="metadata service addresses refused after the first boot (Scaleway: 169.254.42.42 "
        "fd00:42::42); empty: none",
    )

    def turn_hosts(self) -> list[str]:
        """Every TURN server's host name: `turn_servers`, then the host of `turn_server`."""
        hosts = list(self.turn_servers)
        legacy = re.sub(r"^turns?:|[:?].*$", "", self.turn_server)
        if legacy and legacy not in hosts:
            hosts.append(legacy)
        return hosts


def server_secret(master_key: str, name: str) -> str:
    """The BBB shared secret of server `name`: hex HMAC-SHA256(master_key, name). Deterministic, so the
    core recomputes it to register the server; distinct per server name."""
    if not master_key:
        raise ProviderError(f"no server secret master key: set {MASTER_KEY_SECRET}")
    return hmac.new(master_key.encode(), name.encode(), hashlib.sha256).hexdigest()


def pick_hostname(boot: BootOptions, name: str, in_use: set[str]) -> str:
    """The DNS name server `name` will answer at: from the pool if one is configured, else derived."""
    if not boot.hostnames:
        return f"{name}.{boot.domain}"
    for hostname in boot.hostnames:
        if hostname not in in_use:
            return hostname
    raise ProviderError(f"hostname pool exhausted: all {len(boot.hostnames)} names are in use")


#: bbb-install takes the TURN secret as `-c host:secret` (cut at the first ':') and writes it unescaped in
#: an XML attribute: a secret outside this set would be cut or break BBB's TURN configuration.
TURN_SECRET = re.compile(r"[A-Za-z0-9+/=._~-]+")


def _value(key: str, value: str) -> str:
    # Unprintable characters include line breaks YAML honours inside block scalars (\x85, \u2028).
    if not value.isprintable():
        raise ProviderError(f"user data value {key} contains a line break or control character")
    return shlex.quote(value) if value else "''"


def render(
    boot: BootOptions, *, name: str, cluster: str, hostname: str, secret: str, turn_secret: str = ""
) -> str:
    """The cloud-config document for server `name`. Values are shell-quoted (the image sources the env
    file). The result holds secrets: keep it out of logs (LaunchSpec hides it from its repr)."""
    values = {
        "name": name,
        "cluster": cluster,
        "hostname": hostname,
        "secret": secret,
        "turn_servers": " ".join(boot.turn_hosts()),
        "turn_secret": turn_secret,
        "recording_source": boot.recording_source,
        "recording_mount": boot.recording_mount,
        "recording_fstype": boot.recording_fstype,
        "scalelite_url": boot.scalelite_url,
        "scalelite_tag": boot.scalelite_tag,
        "letsencrypt_email": boot.letsencrypt_email,
        "metadata_fence": boot.metadata_fence,
        "cert_url": boot.cert_url,
    }
    if turn_secret and not TURN_SECRET.fullmatch(turn_secret):
        raise ProviderError("the TURN secret may hold only letters, digits and + / = . _ ~ -")
    quoted = {key: _value(key, str(value)) for key, value in values.items()}
    quoted["short_hostname"] = hostname.split(".", 1)[0]
    return Template(TEMPLATE.read_text(encoding="utf-8")).substitute(quoted)


def render_user_data(settings, server, *, secret, server_secret) -> str:
    """User data for the core's LaunchSpec of `server` (the bootstrap's `user_data` port calls this).

    API-backed adapters (HostedProvider) render their own at creation — they pick the hostname from
    their pool, tag the VM with it, and refuse to run without the master key — so for them this
    returns "" (LaunchSpec's "render it for me"). Any other provider (the simulated cloud) gets the
    full document, with the secret the core itself registers: `server_secret(server.name)`. `secret`
    looks a secret up by name (the TURN secret)."""
    from chalicelib.registry import PROVIDERS, resolve

    provider = settings.providers.get(server.provider)
    if provider is None:
        raise ProviderError(f"no provider {server.provider!r} for server {server.name}")
    cls = resolve(PROVIDERS, provider.kind, "provider kind") if provider.kind in PROVIDERS else None
    if getattr(cls, "renders_user_data", False):  # HostedProvider says so (base.py builds on this file)
        return ""
    boot = BootOptions.model_validate((provider.options or {}).get("boot", {}))
    turn = (secret(boot.turn_secret_env) or "") if boot.turn_hosts() else ""
    return render(
        boot,
        name=server.name,
        cluster=settings.cluster,
        hostname=pick_hostname(boot, server.name, set()),
        secret=server_secret(server.name),
        turn_secret=turn,
    )
