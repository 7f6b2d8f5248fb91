#!/bin/sh
set -eu
# Start the idle colour, wait for it, then switch nginx to it.
ACTIVE=$(cat /srv/acme/active)
NEXT=$([ "$ACTIVE" = blue ] && echo green || echo blue)
docker compose -p "acme-$NEXT" up -d --wait
sed -i "s/web-$ACTIVE/web-$NEXT/" /srv/acme/nginx/upstream.conf
docker compose -p acme-proxy exec proxy nginx -s reload
echo "$NEXT" > /srv/acme/active
