#!/usr/bin/env bash
set -euo pipefail
echo "Installing Acme on this server"
docker compose -f deploy/docker/compose.yaml up -d --remove-orphans
