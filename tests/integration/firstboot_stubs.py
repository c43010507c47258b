"""The stub system commands of the first-boot tests (tests/integration/firstboot_root.py puts them first
in PATH): each appends its argv to $STUB_LOG and fails (exit 3) when its command line starts with
$STUB_FAIL. The stubbed bbb-install and dpkg-reconfigure make the edits their upstream counterparts make
to the image's files (tests/fixtures/bbb/image), each with the upstream function it stands for.
"""

STUB = r"""#!/bin/bash
name=$(basename "$0")
echo "$name $*" >>"$STUB_LOG"
if [ -n "${STUB_FAIL:-}" ] && [[ "$name $*" == "$STUB_FAIL"* ]]; then echo "$name: stub failure" >&2; exit 3; fi
case "$name" in
  dig)  # dig +short NS <domain> | dig +short A|AAAA <name> @<server>
    case "$2" in
      NS) [ "$3" != "${STUB_ZONE:-bbb.example.org}" ] || echo "ns1.example.net." ;;
      A) for a in ${STUB_RESOLVES:-}; do [[ $a == *:* ]] || echo "$a"; done ;;
      AAAA) for a in ${STUB_RESOLVES:-}; do [[ $a != *:* ]] || echo "$a"; done ;;
    esac ;;
  hostname) echo "${STUB_INTERFACE:-10.0.0.5} ${STUB_LOCAL_IP:-}" ;;
  curl) path="${*: -1}"; path="/${path#http://*/}"; cat "$BBBSCALE_ROOT/var/www/bigbluebutton-default/assets$path" ;;
  shred) rm "${*: -1}" ;;  # fails on a missing file, as shred does
  bbbscale-cert) exec python3 "$CERT_TOOL" "$@" ;;
esac
exit 0
"""

#: bbb-install v3.0 (bigbluebutton/bbb-install v3.0.x-release, 26ce2d16c2a82ef962d685525b0c20bb89d4d151):
#: what it writes in the files of tests/fixtures/bbb/image, for the -v/-s/-d/-c/-w it is given.
BBB_INSTALL = r"""#!/usr/bin/env python3
import os, re, sys, secrets
from pathlib import Path
log = Path(os.environ["STUB_LOG"]); log.open("a").write("bbb-install.sh " + " ".join(sys.argv[1:]) + "\n")
fail = os.environ.get("STUB_FAIL", "")
if fail and ("bbb-install.sh " + " ".join(sys.argv[1:])).startswith(fail):
    sys.exit(3)
root = Path(os.environ["BBBSCALE_ROOT"])
args = sys.argv[1:]
opt = {args[i]: (args[i + 1] if i + 1 < len(args) and not args[i + 1].startswith("-") else True)
       for i in range(len(args)) if args[i].startswith("-")}
host, ip = opt["-s"], os.environ.get("STUB_LOCAL_IP") or os.environ.get("STUB_INTERFACE", "10.0.0.5")
print("+ env"); print("\n".join(f"{k}={v}" for k, v in os.environ.items()))  # main(): `env`, then -x
print(f"+ COTURN={opt.get('-c', '')}")
def sub(path, pattern, repl):
    p = root / path; p.write_text(re.sub(pattern, repl, p.read_text(), flags=re.M))
# check_nat: external_rtp_ip / external_sip_ip in vars.xml
sub("opt/freeswitch/conf/vars.xml", r'data="external_(rtp|sip)_ip=[^"]*"', rf'data="external_\1_ip={ip}"')
# install_ssl (-d): /etc/letsencrypt/live/$HOST -> /local/certs, sip.nginx, bbb-webrtc-sfu's production.yml
if "-d" in opt:
    live = root / "etc/letsencrypt/live" / host
    if not (live / "fullchain.pem").exists():
        live.mkdir(parents=True, exist_ok=True)
        for pem in ("fullchain.pem", "privkey.pem"):
            (live / pem).symlink_to(root / "local/certs" / pem)
    if not (root / "local/certs/privkey.pem").exists():
        sys.exit("nginx: cannot load certificate")
    sub("usr/share/bigbluebutton/nginx/sip.nginx", r"proxy_pass .*", f"proxy_pass http://{ip}:5066;")
    (root / "etc/bigbluebutton/bbb-webrtc-sfu/production.yml").write_text(
        f"freeswitch:\n  ip: {ip}\n  sip_ip: {ip}\nmediasoup:\n  webrtc:\n    listenIps:\n      - ip: 0.0.0.0\n"
        f"        announcedIp: {ip}\n  plainRtp:\n    listenIp:\n      ip: 0.0.0.0\n      announcedIp: {ip}\n")
# configure_coturn: with -c the given server, else install_coturn's own (this host, a new secret)
coturn = opt.get("-c") or f"{host}:{secrets.token_hex(8)}"
turn_host, turn_secret = coturn.split(":")[0], coturn.split(":")[1]
template = Path(os.environ["BBB_IMAGE"], "turn-stun-servers.xml.bbb-install").read_text()
(root / "etc/bigbluebutton/turn-stun-servers.xml").write_text(
    template.replace("$COTURN_HOST", turn_host).replace("$COTURN_SECRET", turn_secret))
# bbb-conf --setip $HOST
sub("etc/bigbluebutton/bbb-web.properties", r"^bigbluebutton.web.serverURL=.*", f"bigbluebutton.web.serverURL=https://{host}")
"""

#: The packages' after-install scripts, run again by dpkg-reconfigure (address from deb-helper: the interface).
DPKG_RECONFIGURE = r"""#!/usr/bin/env python3
import os, re, sys
from pathlib import Path
Path(os.environ["STUB_LOG"]).open("a").write("dpkg-reconfigure " + " ".join(sys.argv[1:]) + "\n")
fail = os.environ.get("STUB_FAIL", "")
if fail and ("dpkg-reconfigure " + " ".join(sys.argv[1:])).startswith(fail):
    sys.exit(3)
root, ip = Path(os.environ["BBBSCALE_ROOT"]), os.environ.get("STUB_INTERFACE", "10.0.0.5")
package = sys.argv[-1]
if package == "bbb-freeswitch-core":
    p = root / "opt/freeswitch/conf/vars.xml"
    p.write_text(re.sub(r'data="local_ip_v4=[^"]*"', f'data="local_ip_v4={ip}"', p.read_text()))
if package == "bbb-webrtc-sfu":
    p = root / "usr/local/bigbluebutton/bbb-webrtc-sfu/config/default.yml"
    p.write_text(re.sub(r"(ip|sip_ip|announcedIp): (?!0\.0\.0\.0)\S+", rf"\1: {ip}", p.read_text()))
"""

#: bbb-conf --setsecret writes securitySalt in bbb-web.properties (BBB needs it there).
BBB_CONF = r"""#!/bin/bash
echo "bbb-conf $*" >>"$STUB_LOG"
if [ -n "${STUB_FAIL:-}" ] && [[ "bbb-conf $*" == "$STUB_FAIL"* ]]; then exit 3; fi
if [ "$1" = --setsecret ]; then
  sed -i "s/^securitySalt=.*/securitySalt=$2/" "$BBBSCALE_ROOT/etc/bigbluebutton/bbb-web.properties"
fi
"""

COMMANDS = (
    "hostnamectl mount dig hostname curl chown iptables ip6tables shred bbbscale-cert cksum systemctl".split()
)
