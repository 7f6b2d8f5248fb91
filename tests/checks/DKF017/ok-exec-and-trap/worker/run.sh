#!/bin/bash
trap 'kill -TERM "$child"; wait "$child"' TERM INT
celery -A app worker &
child=$!
wait "$child"
