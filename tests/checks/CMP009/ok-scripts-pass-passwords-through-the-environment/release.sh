#!/bin/sh
echo "$DOCKER_PASSWORD" | docker login -u acme --password-stdin
docker run -p 8080:80 acme/notes
