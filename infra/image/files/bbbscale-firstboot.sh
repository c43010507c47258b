#!/bin/bash
# bbbscale first boot: give this BBB server the identity cloud-init handed it, then forget the secrets.
# Reads /etc/bbbscale/boot.env (written by cloud-init from chalicelib/adapters/providers/cloud-init.yaml.tmpl):
# BBB_HOSTNAME, BBB_SECRET, TURN_SERVER, TURN_SECRET, RECORDING_SOURCE/MOUNT/FSTYPE, SCALELITE_URL/TAG,
# LETSENCRYPT_EMAIL. Runs once (bbbscale-firstboot.service); the env file is deleted at the end.
set -euo pipefail
ENV_FILE=/etc/bbbscale/boot.env
DONE=/var/lib/bbbscale/firstboot.done
[ -f "$ENV_FILE" ] || exit 0
set -a
# shellcheck disable=SC1090
. "$ENV_FILE"
set +a

log() { echo "bbbscale-firstboot: $*"; }

log "hostname ${BBB_HOSTNAME}"
hostnamectl set-hostname "${BBB_HOSTNAME}"

if [ -n "${RECORDING_SOURCE:-}" ]; then
  log "mounting recordings from ${RECORDING_SOURCE}"
  mkdir -p "${RECORDING_MOUNT}"
  grep -qs " ${RECORDING_MOUNT} " /etc/fstab ||
    echo "${RECORDING_SOURCE} ${RECORDING_MOUNT} ${RECORDING_FSTYPE:-nfs} defaults,_netdev,nofail 0 0" >>/etc/fstab
  mount "${RECORDING_MOUNT}" || log "recording mount failed; recordings stay local until it works"
fi

if [ -n "${LETSENCRYPT_EMAIL:-}" ]; then
  log "requesting a certificate for ${BBB_HOSTNAME}"
  certbot certonly --non-interactive --agree-tos -m "${LETSENCRYPT_EMAIL}" --webroot \
    -w /var/www/bigbluebutton-default/assets -d "${BBB_HOSTNAME}"
  sed -i -E \
    -e "s#ssl_certificate .*#ssl_certificate /etc/letsencrypt/live/${BBB_HOSTNAME}/fullchain.pem;#" \
    -e "s#ssl_certificate_key .*#ssl_certificate_key /etc/letsencrypt/live/${BBB_HOSTNAME}/privkey.pem;#" \
    /etc/nginx/sites-available/bigbluebutton
fi

if [ -n "${TURN_SERVER:-}" ]; then
  log "TURN server ${TURN_SERVER}"
  turn_host=$(echo "${TURN_SERVER}" | sed -E 's#^turns?:##; s#\?.*$##')
  sed -e "s#@TURN_HOST@#${turn_host}#" -e "s#@TURN_SERVER@#${TURN_SERVER}#" -e "s#@TURN_SECRET@#${TURN_SECRET}#" \
    /etc/bbbscale/turn-stun-servers.xml.in >/usr/share/bbb-web/WEB-INF/classes/spring/turn-stun-servers.xml
fi

# Non-secret data for the recording transfer hook (Scalelite's post_publish script reads it).
umask 022
printf 'SCALELITE_URL=%s\nSCALELITE_TAG=%s\nBBBSCALE_SERVER_NAME=%s\n' \
  "${SCALELITE_URL:-}" "${SCALELITE_TAG:-}" "${BBBSCALE_SERVER_NAME:-}" >/etc/bbbscale/scalelite.env

log "configuring BigBlueButton"
bbb-conf --setip "${BBB_HOSTNAME}"
bbb-conf --setsecret "${BBB_SECRET}"
bbb-conf --restart

mkdir -p "$(dirname "$DONE")"
touch "$DONE"
shred -u "$ENV_FILE" 2>/dev/null || rm -f "$ENV_FILE"
log "done"
