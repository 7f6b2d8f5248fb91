#!/bin/sh
set -e
sed -i "s#{{BASE_PATH}}#${BASE_PATH:-/}#g" /etc/nginx/nginx.conf
exec "$@"
