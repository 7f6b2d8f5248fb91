#!/bin/bash
set -euo pipefail
APP_TAG=${1:?usage: upgrade.sh <version>}
ENV_FILE=/srv/acme/.env

set_env_var() {
    if grep -q "^$1=" "$ENV_FILE"; then sed -i "s|^$1=.*|$1=$2|" "$ENV_FILE"; else echo "$1=$2" >> "$ENV_FILE"; fi
}

set_env_var "APP_TAG" "$APP_TAG"
COMPOSE_FILES=$(for f in docker-compose.prod.yml docker-compose.custom.yml; do [ -f "$f" ] && printf -- "-f %s " "$f"; done)
# shellcheck disable=SC2086
docker compose --env-file "$ENV_FILE" $COMPOSE_FILES up -d --wait
