#!/bin/bash
# bbbscale first boot: give this BBB 3.0 server the identity cloud-init handed it, then forget the secrets.
#
# Reads /etc/bbbscale/boot.env (written by cloud-init from chalicelib/adapters/providers/cloud-init.yaml.tmpl):
# BBBSCALE_SERVER_NAME, BBB_HOSTNAME, BBB_SECRET, TURN_SERVER, TURN_SECRET, RECORDING_SOURCE/MOUNT/FSTYPE,
# SCALELITE_URL/TAG, LETSENCRYPT_EMAIL, METADATA_FENCE. Runs once (bbbscale-firstboot.service).
#
# Every step must succeed: the first that fails stops the boot, writes /var/lib/bbbscale/firstboot.failed
# (step and reason, never a secret) and keeps haproxy, BBB's only HTTPS listener, disabled. The server then
# never answers its API, bbbscale never registers it, and replaces it after max_provision_minutes.
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
WEBROOT="$ROOT/var/www/bigbluebutton-default/assets"
DNS_WAIT_SECONDS="${DNS_WAIT_SECONDS:-900}"
DNS_WAIT_INTERVAL="${DNS_WAIT_INTERVAL:-10}"
STEP=start
LOCAL_COTURN=0

log() { echo "bbbscale-firstboot: $*" >&2; }

# On any failing command: record which step failed and why (the command's name only: arguments may hold
# a secret), keep HTTPS off, drop the parameter file, exit non-zero.
fail() {
  local code=$1 reason=${3:-"${2%% *} exited $1"}
  trap - ERR
  mkdir -p "$STATE_DIR"
  printf 'step %s failed: %s\n' "$STEP" "$reason" >"$FAILED"
  log "FAILED at step ${STEP}: ${reason}; this server will not serve (bbbscale replaces it)"
  systemctl disable --now haproxy.service >/dev/null 2>&1 || true
  if [ -f "$ENV_FILE" ]; then shred -u "$ENV_FILE" 2>/dev/null || rm -f "$ENV_FILE"; fi
  exit "$code"
}
trap 'fail $? "$BASH_COMMAND"' ERR
die() { fail 1 "" "$*"; }

step() { STEP=$1; log "step ${STEP}"; }

load_parameters() {
  step parameters
  [ -f "$DONE" ] && { log "already configured"; exit 0; }
  [ -f "$ENV_FILE" ] || { log "no ${ENV_FILE}: nothing to do"; exit 0; }
  set -a
  # shellcheck disable=SC1090
  . "$ENV_FILE"
  set +a
  local key
  for key in BBBSCALE_SERVER_NAME BBB_HOSTNAME BBB_SECRET; do
    [ -n "${!key:-}" ] || die "${key} is empty in boot.env"
  done
}

set_hostname() {
  step hostname
  hostnamectl set-hostname "$BBB_HOSTNAME"
}

mount_recordings() {
  step recordings
  [ -n "${RECORDING_SOURCE:-}" ] || return 0
  local mountpoint=${RECORDING_MOUNT:-/mnt/scalelite-recordings}
  mkdir -p "$ROOT$mountpoint"
  grep -qs " ${mountpoint} " "$ROOT/etc/fstab" ||
    echo "${RECORDING_SOURCE} ${mountpoint} ${RECORDING_FSTYPE:-nfs} defaults,_netdev 0 0" >>"$ROOT/etc/fstab"
  mount "$mountpoint"
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

# True when the name resolves to this machine, asked of the zone's own servers: no resolver's cache can
# hide a record made after a first try, and neither /etc/hosts nor systemd-resolved (which answers the
# machine's own hostname with its local addresses) can fake one. One of the addresses is on an
# interface, or (floating IP, NAT) a token written here comes back when fetched through it. Sets PUBLIC_IP.
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

# Let's Encrypt's HTTP-01 challenge needs the name to reach this VM: bbbscale's DNS adapter makes the
# record once the provider reports the VM's address; wait for it, bounded.
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

# bbb-install wrote the build machine's addresses into the image (its check_nat and install_haproxy):
# FreeSWITCH announces the public one in SDP, haproxy sends TURN-over-443 to coturn on the interface's
# one, coturn advertises the public one. Put this VM's in their place.
set_addresses() {
  step addresses
  local local_ip file
  local_ip=$(hostname -I | awk '{print $1}') || die "cannot read this VM's interface addresses"
  [ -n "$local_ip" ] || die "this VM has no interface address"
  file="$ROOT/opt/freeswitch/conf/vars.xml"
  if [ -f "$file" ]; then
    sed -i -E -e "s#external_rtp_ip=[^\"]*#external_rtp_ip=${PUBLIC_IP}#" \
      -e "s#external_sip_ip=[^\"]*#external_sip_ip=${PUBLIC_IP}#" "$file"
  fi
  file="$ROOT/etc/haproxy/haproxy.cfg"
  [ -f "$file" ] && sed -i -E "s#^( *server [a-z]+ )[0-9a-fA-F.:]+(:3478)#\1${local_ip}\2#" "$file"
  file="$ROOT/etc/turnserver.conf"
  if [ -f "$file" ]; then
    local external=$PUBLIC_IP
    [ "$PUBLIC_IP" = "$local_ip" ] || external="${PUBLIC_IP}/${local_ip}"
    sed -i -E -e "s#^listening-ip=.*#listening-ip=${local_ip}#" -e "s#^relay-ip=.*#relay-ip=${local_ip}#" \
      -e "s#^external-ip=.*#external-ip=${external}#" "$file"
  fi
  return 0
}

get_certificate() {
  step certificate
  local contact=(--register-unsafely-without-email)
  [ -n "${LETSENCRYPT_EMAIL:-}" ] && contact=(-m "$LETSENCRYPT_EMAIL")
  certbot certonly --non-interactive --agree-tos "${contact[@]}" --webroot -w "$WEBROOT" \
    -d "$BBB_HOSTNAME" --cert-name "$BBB_HOSTNAME"
  [ -s "$ROOT/etc/letsencrypt/live/$BBB_HOSTNAME/fullchain.pem" ] || die "certbot left no certificate"
}

# haproxy terminates TLS from /etc/haproxy/certbundle.pem (bbb-install's install_haproxy). certbot runs
# deploy hooks on renewals only, so the hook is installed for them and run once now.
install_cert_bundle() {
  step haproxy-certificate
  local hook="$ROOT/etc/letsencrypt/renewal-hooks/deploy/haproxy"
  mkdir -p "$(dirname "$hook")"
  cat >"$hook" <<'HOOK'
#!/bin/bash
# Written by bbbscale-firstboot: rebuild haproxy's certificate bundle from the renewed lineage, reload.
set -euo pipefail
umask 077
ROOT="${BBBSCALE_ROOT:-}"
lineage="${RENEWED_LINEAGE:?certbot sets RENEWED_LINEAGE}"
bundle="$ROOT/etc/haproxy/certbundle.pem"
cat "$lineage/fullchain.pem" "$lineage/privkey.pem" >"$bundle.new"
chown root:haproxy "$bundle.new"
chmod 0640 "$bundle.new"
mv -f "$bundle.new" "$bundle"
if systemctl is-active --quiet haproxy.service; then systemctl reload haproxy.service; fi
HOOK
  chmod 0755 "$hook"
  RENEWED_LINEAGE="$ROOT/etc/letsencrypt/live/$BBB_HOSTNAME" "$hook" ||
    die "the deploy hook could not build haproxy's certificate bundle"
  haproxy -c -q -f "$ROOT/etc/haproxy/haproxy.cfg"
}

# An attribute value for the TURN XML: whatever a secret holds stays that value (no sed, no markup).
xml_value() {
  local value=$1
  value=${value//&/&amp;}
  value=${value//</&lt;}
  value=${value//>/&gt;}
  value=${value//\"/&quot;}
  printf '%s' "$value"
}

# BBB hands browsers the TURN servers of /etc/bigbluebutton/turn-stun-servers.xml: the external TURN server
# of the boot parameters, else the image's own coturn (bbb-install's, behind haproxy on 443). That coturn
# gets a secret of this VM's own either way (the image's is shared by every VM booted from it).
configure_turn() {
  step turn
  local server=${TURN_SERVER:-} secret=${TURN_SECRET:-} host target="$ROOT/etc/bigbluebutton/turn-stun-servers.xml"
  if [ -f "$ROOT/etc/turnserver.conf" ]; then # used or not, it must not relay with the image's secret
    local own
    own=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
    sed -i -E -e "s#^static-auth-secret=.*#static-auth-secret=${own}#" -e "s#^realm=.*#realm=${BBB_HOSTNAME}#" \
      "$ROOT/etc/turnserver.conf"
    LOCAL_COTURN=1
    [ -n "$server" ] || { server="turns:${BBB_HOSTNAME}:443?transport=tcp"; secret=$own; }
  fi
  [ -n "$server" ] || return 0
  host=$(echo "$server" | sed -E 's#^turns?:##; s#\?.*$##')
  shopt -u patsub_replacement 2>/dev/null || true # bash 5.2: '&' in a replacement would mean the match
  local xml
  xml=$(<"$ROOT/etc/bbbscale/turn-stun-servers.xml.in")
  xml=${xml//@TURN_HOST@/$(xml_value "$host")}
  xml=${xml//@TURN_SERVER@/$(xml_value "$server")}
  xml=${xml//@TURN_SECRET@/$(xml_value "$secret")}
  mkdir -p "$(dirname "$target")"
  printf '%s\n' "$xml" >"$target.new"
  chown root:bigbluebutton "$target.new"
  chmod 0640 "$target.new"
  mv -f "$target.new" "$target"
}

configure_bbb() {
  step bbb
  bbb-conf --setip "$BBB_HOSTNAME"
  bbb-conf --setsecret "$BBB_SECRET"
}

# Non-secret data for the recording transfer hook (Scalelite's post_publish script reads it).
write_scalelite_tag() {
  step scalelite
  printf 'SCALELITE_URL=%s\nSCALELITE_TAG=%s\nBBBSCALE_SERVER_NAME=%s\n' \
    "${SCALELITE_URL:-}" "${SCALELITE_TAG:-}" "$BBBSCALE_SERVER_NAME" >"$ROOT/etc/bbbscale/scalelite.env"
  chmod 0644 "$ROOT/etc/bbbscale/scalelite.env"
}

# No copy of a secret outlives the first boot on disk: the parameter file, cloud-init's stored user data
# (rewritten at every boot while cloud-init runs, hence it is switched off), and any other file of
# cloud-init's holding a secret: its merged config (instances/*/cloud-config.txt), the sensitive instance
# data in /run/cloud-init, a log that echoed it.
scrub_secrets() {
  step scrub
  local secrets=("$BBB_SECRET") file
  [ -n "${TURN_SECRET:-}" ] && secrets+=("$TURN_SECRET")
  shopt -s nullglob
  for file in "$ENV_FILE" "$ROOT"/var/lib/cloud/instance/user-data.txt* \
    "$ROOT"/var/lib/cloud/instances/*/user-data.txt* "$ROOT"/var/lib/cloud/instances/*/obj.pkl; do
    [ -f "$file" ] || continue # instance/ links to instances/<id>/: the same file, already gone
    shred -u "$file"
  done
  # grep -r follows no symlink (instance/ is one), so each file is found once.
  while IFS= read -r file; do
    shred -u "$file"
  done < <(grep -rlsF -f <(printf '%s\n' "${secrets[@]}") "$ROOT/var/lib/cloud" "$ROOT/run/cloud-init" \
    "$ROOT"/var/log/cloud-init*.log* || true)
  shopt -u nullglob
  mkdir -p "$ROOT/etc/cloud"
  touch "$ROOT/etc/cloud/cloud-init.disabled"
}

# The metadata service keeps serving the user data (secret included) for the VM's life: refuse it to every
# process from now on. METADATA_FENCE lists its addresses; bbbscale-metadata-fence.service repeats the
# rules at each boot from the list kept in /var/lib/bbbscale/metadata-fenced.
fence_metadata() {
  step metadata-fence
  local address
  for address in ${METADATA_FENCE:-}; do
    case $address in
      *:*) ip6tables -w -I OUTPUT -d "$address" -j REJECT ;;
      *) iptables -w -I OUTPUT -d "$address" -j REJECT ;;
    esac
  done
  printf '%s\n' ${METADATA_FENCE:-} >"$STATE_DIR/metadata-fenced"
}

start_serving() {
  step start
  bbb-conf --restart
  [ "${LOCAL_COTURN:-0}" = 1 ] && systemctl restart coturn.service
  systemctl enable --now haproxy.service
}

mkdir -p "$STATE_DIR"
load_parameters
set_hostname
mount_recordings
wait_for_dns
set_addresses
get_certificate
install_cert_bundle
configure_turn
configure_bbb
write_scalelite_tag
scrub_secrets
fence_metadata
start_serving
STEP=done
rm -f "$FAILED"
touch "$DONE"
log "done: ${BBB_HOSTNAME} serves"
