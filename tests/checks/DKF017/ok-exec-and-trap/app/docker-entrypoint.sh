#!/bin/sh
set -e
python manage.py migrate
if [ "$1" = "shell" ]; then
  exec python manage.py shell
fi
exec "$@"
