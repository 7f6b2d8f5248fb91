#!/bin/sh
set -e
python manage.py migrate
# the server
gunicorn app.wsgi --bind 0.0.0.0:8000
