#!/bin/bash
# bbbscale first boot: bbb-install configures this prepared BBB 3.0 server for its own name and address, as
# the seed's operators ran it per VM; this script does only what bbb-install cannot, then forgets the secrets.
#
# Reads /etc/bbbscale/boot.env (written by cloud-init from chalicelib/adapters/providers/cloud-init.yaml.tmpl):
# BBBSCALE_SERVER_NAME, BBB_HOSTNAME, BBB_SECRET, CERT_URL, TURN_SERVERS, TURN_SECRET,
# RECORDING_SOURCE/MOUNT/FSTYPE, METADATA_FENCE. bbbscale-firstboot.service runs it at every boot:
#   - first boot (boot.env present): every step below;
#   - later boots: nothing, unless this VM's address changed (a power-pool server restarted elsewhere):
#     then the address steps run again (packages, bbb-install) before HTTPS opens (infra/image/README.md).
#
# HTTPS (443) stays closed to other hosts until every step succeeded (the "gate"), so bbbscale never sees a
# half-configured server healthy. Any failure records /var/lib/bbbscale/firstboot.failed (step and reason,
# never a secret); whatever ends the run (a failed step, a signal), the scrub and the metadata fence run.
#
# BBBSCALE_ROOT prefixes every path (tests run the script against a temporary root with stub commands
# first in PATH); on a server it is empty.
set -Eeuo pipefail
umask 077

ROOT="${BBBSCALE_ROOT:-}"
ENV_FILE="$ROOT/etc/bbbscale/boot.env"
STATE_DIR="$ROOT/var/lib/bbbscale"
DONE="$STATE_DIR/firstboot.done"
FAILED="$STATE_DIR/firstboot.failed"
CONFIGURED="$STATE_DIR/configured.env"
WEBROOT="$ROOT/var/www/bigbluebutton-default/assets"
TURN_XML="$ROOT/etc/bigbluebutton/turn-stun-servers.xml"
SCALELITE_YML="$ROOT/usr/local/bigbluebutton/core/scripts/scalelite.yml"
BBB_VERSION="${BBB_VERSION:-jammy-300}"
DNS_WAIT_SECONDS="${DNS_WAIT_SECONDS:-900}"
DNS_WAIT_INTERVAL="${DNS_WAIT_INTERVAL:-10}"
STEP=start
MODE=none # first | readdress
PUBLIC_IP=""
ADDRESS=""
SECRETS=()
SCRUBBED=0
FENCED=0
GATE4=()
GATE6=()

log() { echo "bbbscale-firstboot: $*" >&2; }
step() { STEP=$1; log "step ${STEP}"; }

# The failure record: step and reason (a command's name only: its arguments may hold a secret).
record_failure() {
  mkdir -p "$STATE_DIR"
  printf 'step %s failed: %s\n' "$STEP" "$1" >"$FAILED"
  log "FAILED at step ${STEP}: $1; this server will not serve (bbbscale replaces it)"
}
on_error() {
  local code=$1 command=$2
  trap - ERR
  while [[ $command =~ ^[A-Za-z_][A-Za-z0-9_]*=[^\ ]*\ (.*)$ ]]; do command=${BASH_REMATCH[1]}; done
  record_failure "${command%% *} exited ${code}"
  exit "$code"
}
die() {
  trap - ERR
  record_failure "$*"
  exit 1
}
# Whatever ends the run: a failed first boot still scrubs its secrets and fences the metadata service.
on_exit() {
  local code=$?
  trap - EXIT ERR
  set +e
  if [ "$code" -ne 0 ]; then
    [ -f "$FAILED" ] || record_failure "interrupted (exit ${code})"
    if [ "$MODE" = first ]; then
      [ "$SCRUBBED" = 1 ] || scrub_secrets
      [ "$FENCED" = 1 ] || fence_metadata
    fi
  fi
  exit "$code"
}
trap 'on_error $? "$BASH_COMMAND"' ERR
trap on_exit EXIT
trap 'exit 143' TERM INT

# This VM's address as bbb-install and the packages' scripts see it: the first interface address.
interface_address() {
  local first
  first=$(hostname -I | awk '{print $1}') || return 1
  [ -n "$first" ] || return 1
  echo "$first"
}

# Only KEY=VALUE lines, values shell-quoted by userdata.py; nothing is exported (bbb-install prints its
# environment into its log).
read_env() {
  # shellcheck disable=SC1090
  . "$1"
}

decide_mode() {
  step parameters
  mkdir -p "$STATE_DIR"
  if [ -f "$FAILED" ]; then # a failed server stays closed at every boot until bbbscale replaces it
    MODE=failed
    close_https
    log "an earlier first boot failed ($(<"$FAILED")): HTTPS stays closed"
    trap - EXIT
    exit 1
  fi
  if [ -f "$DONE" ]; then
    [ -f "$CONFIGURED" ] || { log "already configured"; exit 0; }
    read_env "$CONFIGURED"
    ADDRESS=$(interface_address) || die "cannot read this VM's interface addresses"
    if [ "$ADDRESS" = "${CONFIGURED_ADDRESS:-}" ]; then
      log "already configured for ${ADDRESS}"
      exit 0
    fi
    MODE=readdress
    log "address changed from ${CONFIGURED_ADDRESS:-none} to ${ADDRESS}: configuring again"
    TURN_SECRET=$(turn_secret_on_disk)
    [ -n "$TURN_SECRET" ] && SECRETS+=("$TURN_SECRET")
    return 0
  fi
  [ -f "$ENV_FILE" ] || { log "no ${ENV_FILE}: nothing to do"; exit 0; }
  MODE=first
  read_env "$ENV_FILE"
  [ -n "${BBB_SECRET:-}" ] && SECRETS+=("$BBB_SECRET")
  [ -n "${TURN_SECRET:-}" ] && SECRETS+=("$TURN_SECRET")
  local key
  for key in BBBSCALE_SERVER_NAME BBB_HOSTNAME BBB_SECRET CERT_URL; do
    [ -n "${!key:-}" ] || die "${key} is empty in boot.env"
  done
  if [ -n "${TURN_SERVERS:-}" ] && [ -z "${TURN_SECRET:-}" ]; then die "TURN_SERVERS without TURN_SECRET"; fi
  ADDRESS=$(interface_address) || die "cannot read this VM's interface addresses"
}

# The TURN secret bbb-install wrote into BBB's TURN configuration (BBB needs it there): a re-run hands it
# to bbb-install again. Empty when the server uses its own coturn.
turn_secret_on_disk() {
  [ -n "${TURN_SERVERS:-}" ] || return 0
  sed -n 's/.*<constructor-arg index="0" value="\([^"]*\)".*/\1/p' "$TURN_XML" | head -n 1
}

set_hostname() {
  step hostname
  hostnamectl set-hostname "$BBB_HOSTNAME"
}

# The servers answering for the name's zone: the NS of the closest enclosing domain that has some.
authoritative_servers() {
  local domain=${BBB_HOSTNAME#*.} servers
  while [[ $domain == *.* ]]; do
    servers=$(dig +short NS "$domain" 2>/dev/null) || servers=""
    if [ -n "$servers" ]; then echo "$servers"; return 0; fi
    domain=${domain#*.}
  done
  return 1
}

# True when the name resolves to this machine, asked of the zone's own servers (no cache, no /etc/hosts):
# one of the addresses is on an interface, or (floating IP, NAT) a token written here comes back when
# fetched through it. Sets PUBLIC_IP.
points_here() {
  local servers server resolved="" local_ips address token answer target
  servers=$(authoritative_servers) || return 1
  for server in $servers; do
    resolved=$({ dig +short A "$BBB_HOSTNAME" "@$server"; dig +short AAAA "$BBB_HOSTNAME" "@$server"; } 2>/dev/null |
      grep -E '^[0-9a-fA-F.:]+$' | awk '!seen[$0]++') || resolved=""
    [ -n "$resolved" ] && break
  done
  [ -n "$resolved" ] || return 1
  local_ips=" $(hostname -I) "
  for address in $resolved; do
    if [[ $local_ips == *" $address "* ]]; then PUBLIC_IP=$address; return 0; fi
  done
  token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  mkdir -p "$WEBROOT/.well-known/bbbscale"
  echo "$token" >"$WEBROOT/.well-known/bbbscale/$token"
  chmod 0644 "$WEBROOT/.well-known/bbbscale/$token"
  for address in $resolved; do
    target=$address
    [[ $address == *:* ]] && target="[$address]"
    answer=$(curl -fsS --max-time 5 --resolve "${BBB_HOSTNAME}:80:${target}" \
      "http://${BBB_HOSTNAME}/.well-known/bbbscale/${token}" 2>/dev/null || true)
    if [ "$answer" = "$token" ]; then
      PUBLIC_IP=$address
      rm -f "$WEBROOT/.well-known/bbbscale/$token"
      return 0
    fi
  done
  rm -f "$WEBROOT/.well-known/bbbscale/$token"
  return 1
}

# bbb-install finds the public address behind NAT from the name (dig, then a connection to it): the name
# must point here first. bbbscale's DNS adapter makes the record once the provider reports the address.
wait_for_dns() {
  step dns
  local deadline=$((SECONDS + DNS_WAIT_SECONDS))
  until points_here; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      die "${BBB_HOSTNAME} does not resolve to this server after ${DNS_WAIT_SECONDS}s"
    fi
    sleep "$DNS_WAIT_INTERVAL"
  done
  log "${BBB_HOSTNAME} resolves to ${PUBLIC_IP}"
}

# HTTPS refused to every other host until the end (this VM's own addresses and its public one pass:
# bbb-install checks the NAT by connecting to that address on 443).
close_https() {
  step gate
  GATE4=(-p tcp --dport 443)
  GATE6=(-p tcp --dport 443)
  if [[ $PUBLIC_IP == *:* ]]; then GATE6+=(! -s "$PUBLIC_IP"); elif [ -n "$PUBLIC_IP" ]; then GATE4+=(! -s "$PUBLIC_IP"); fi
  GATE4+=(-m addrtype ! --src-type LOCAL -j REJECT)
  GATE6+=(-m addrtype ! --src-type LOCAL -j REJECT)
  iptables -w -I INPUT "${GATE4[@]}"
  ip6tables -w -I INPUT "${GATE6[@]}"
}
open_https() {
  step open
  iptables -w -D INPUT "${GATE4[@]}"
  ip6tables -w -D INPUT "${GATE6[@]}"
}

# The fleet's wildcard certificate from bbbscale (docs: cert-delivery), into /local/certs/ where
# bbb-install -d expects fullchain.pem and privkey.pem.
fetch_certificate() {
  step certificate
  BBB_SECRET="$BBB_SECRET" CERT_URL="$CERT_URL" BBBSCALE_SERVER_NAME="$BBBSCALE_SERVER_NAME" bbbscale-cert fetch
}

# Before bbb-install: its `bbb-conf --setip` restarts BBB, which then serves with this secret.
set_secret() {
  step secret
  bbb-conf --setsecret "$BBB_SECRET"
}

# The packages wrote the build machine's address at install time (bbb-freeswitch-core's after-install:
# vars.xml local_ip_v4; bbb-webrtc-sfu's: its default.yml); neither bbb-install nor bbb-conf touches them.
# Their own after-install scripts, run again, write this VM's.
reconfigure_packages() {
  step packages
  dpkg-reconfigure -fnoninteractive bbb-freeswitch-core
  dpkg-reconfigure -fnoninteractive bbb-webrtc-sfu
}

# The TURN server of this VM: one of the list, picked by name so the fleet spreads over them.
primary_turn() {
  local hosts=($TURN_SERVERS) sum
  sum=$(printf '%s' "$BBBSCALE_SERVER_NAME" | cksum | cut -d' ' -f1)
  echo "${hosts[$((sum % ${#hosts[@]}))]}"
}

# A line of bbb-install's output with every secret masked (it runs with -x and prints its environment).
mask() {
  local line secret
  while IFS= read -r line || [ -n "$line" ]; do
    for secret in "${SECRETS[@]}"; do line=${line//"$secret"/[secret]}; done
    printf '%s\n' "$line"
  done
}

run_bbb_install() {
  step bbb-install
  local args=(-v "$BBB_VERSION" -s "$BBB_HOSTNAME" -d)
  [ -n "${TURN_SERVERS:-}" ] && args+=(-c "$(primary_turn):${TURN_SECRET}")
  args+=(-w)
  mkdir -p "$ROOT/var/log/bbbscale"
  bbb-install.sh "${args[@]}" 2>&1 | mask >>"$ROOT/var/log/bbbscale/bbb-install.log" ||
    die "bbb-install.sh exited ${PIPESTATUS[0]} (its log: /var/log/bbbscale/bbb-install.log)"
}

# bbb-install -c writes one TURN server (turn:<host>:3478 and turns:<host>:443); the others of the list
# go beside it, in the same form, so a browser has them too.
add_turn_servers() {
  step turn
  [ -n "${TURN_SERVERS:-}" ] || return 0
  local primary host beans="" refs="" n=2
  primary=$(primary_turn)
  for host in $TURN_SERVERS; do
    [ "$host" = "$primary" ] && continue
    beans+="    <bean id=\"turn$n\" class=\"org.bigbluebutton.web.services.turn.TurnServer\">
        <constructor-arg index=\"0\" value=\"$TURN_SECRET\"/>
        <constructor-arg index=\"1\" value=\"turn:$host:3478\"/>
        <constructor-arg index=\"2\" value=\"86400\"/>
    </bean>
    <bean id=\"turn$((n + 1))\" class=\"org.bigbluebutton.web.services.turn.TurnServer\">
        <constructor-arg index=\"0\" value=\"$TURN_SECRET\"/>
        <constructor-arg index=\"1\" value=\"turns:$host:443?transport=tcp\"/>
        <constructor-arg index=\"2\" value=\"86400\"/>
    </bean>
"
    refs+="                <ref bean=\"turn$n\"/>
                <ref bean=\"turn$((n + 1))\"/>
"
    n=$((n + 2))
  done
  [ -n "$beans" ] || return 0
  grep -q '<ref bean="turn1"/>' "$TURN_XML" || die "bbb-install wrote no turn1 in turn-stun-servers.xml"
  BEANS="$beans" REFS="$refs" awk '
    /<bean id="stunTurnService"/ { printf "%s", ENVIRON["BEANS"] }
    { print }
    /<ref bean="turn1"\/>/ { printf "%s", ENVIRON["REFS"] }' "$TURN_XML" >"$TURN_XML.new"
  if ! { chown root:bigbluebutton "$TURN_XML.new" && chmod 0640 "$TURN_XML.new"; }; then
    rm -f "$TURN_XML.new" # it holds the TURN secret
    die "chown of the TURN configuration failed"
  fi
  mv -f "$TURN_XML.new" "$TURN_XML"
}

# Scalelite's recording transfer (its bigbluebutton/README.md): the image holds scalelite_post_publish.rb
# and scalelite.yml; here the shared spool is mounted and named, and a transferred recording leaves this
# server (delete_recording), so "no recording left" is what bbbscale's drain waits for.
configure_recordings() {
  step recordings
  [ -n "${RECORDING_SOURCE:-}" ] || return 0
  local mountpoint=${RECORDING_MOUNT:-/mnt/scalelite-recordings}
  mkdir -p "$ROOT$mountpoint"
  grep -qs " ${mountpoint} " "$ROOT/etc/fstab" ||
    echo "${RECORDING_SOURCE} ${mountpoint} ${RECORDING_FSTYPE:-nfs} defaults,_netdev 0 0" >>"$ROOT/etc/fstab"
  mount "$mountpoint"
  [ -f "$SCALELITE_YML" ] || die "the image has no Scalelite transfer configuration (scalelite.yml)"
  sed -i -E -e "s#^spool_dir:.*#spool_dir: ${mountpoint}#" -e 's#^delete_recording:.*#delete_recording: true#' \
    "$SCALELITE_YML"
}

# What a later boot needs to configure the server again on a new address (no secret: the TURN secret is
# read back from BBB's TURN configuration, the BBB secret stays in bbb-web's properties).
record_configuration() {
  step record
  printf 'BBBSCALE_SERVER_NAME=%q\nBBB_HOSTNAME=%q\nTURN_SERVERS=%q\nCONFIGURED_ADDRESS=%q\n' \
    "$BBBSCALE_SERVER_NAME" "$BBB_HOSTNAME" "${TURN_SERVERS:-}" "$ADDRESS" >"$CONFIGURED.new"
  mv -f "$CONFIGURED.new" "$CONFIGURED"
  if [ "$MODE" = first ]; then
    printf 'BBBSCALE_SERVER_NAME=%q\nCERT_URL=%q\n' "$BBBSCALE_SERVER_NAME" "$CERT_URL" \
      >"$ROOT/etc/bbbscale/cert.env"
  fi
}

# No copy of a secret outlives the first boot on disk: the parameter file, cloud-init's stored user data
# (rewritten at every boot while cloud-init runs, hence it is switched off), and any other file of
# cloud-init's holding a secret: its merged config, the sensitive instance data in /run/cloud-init, a log.
scrub_secrets() {
  step scrub
  SCRUBBED=1
  local file
  shopt -s nullglob
  for file in "$ENV_FILE" "$ROOT"/var/lib/cloud/instance/user-data.txt* \
    "$ROOT"/var/lib/cloud/instances/*/user-data.txt* "$ROOT"/var/lib/cloud/instances/*/obj.pkl; do
    [ -f "$file" ] || continue # instance/ links to instances/<id>/: the same file, already gone
    shred -u "$file" || rm -f "$file"
  done
  if [ "${#SECRETS[@]}" -gt 0 ]; then # grep -r follows no symlink (instance/ is one): each file once
    while IFS= read -r file; do
      shred -u "$file" || rm -f "$file"
    done < <(grep -rlsF -f <(printf '%s\n' "${SECRETS[@]}") "$ROOT/var/lib/cloud" "$ROOT/run/cloud-init" \
      "$ROOT"/var/log/cloud-init*.log* || true)
  fi
  shopt -u nullglob
  mkdir -p "$ROOT/etc/cloud"
  touch "$ROOT/etc/cloud/cloud-init.disabled"
}

# The metadata service keeps serving the user data (secret included) for the VM's life: refuse it to every
# process from now on. bbbscale-metadata-fence.service repeats the rules at each boot.
fence_metadata() {
  step metadata-fence
  FENCED=1
  local address
  for address in ${METADATA_FENCE:-}; do
    case $address in
      *:*) ip6tables -w -I OUTPUT -d "$address" -j REJECT ;;
      *) iptables -w -I OUTPUT -d "$address" -j REJECT ;;
    esac
  done
  printf '%s\n' ${METADATA_FENCE:-} >"$STATE_DIR/metadata-fenced"
}

decide_mode
if [ "$MODE" = first ]; then
  set_hostname
  wait_for_dns
  close_https
  fetch_certificate
  set_secret
  reconfigure_packages
  run_bbb_install
  add_turn_servers
  configure_recordings
  record_configuration
  scrub_secrets
  fence_metadata
else
  wait_for_dns
  close_https
  reconfigure_packages
  run_bbb_install
  add_turn_servers
  record_configuration
fi
open_https
STEP=done
touch "$DONE"
log "done: ${BBB_HOSTNAME} serves at ${PUBLIC_IP}"
