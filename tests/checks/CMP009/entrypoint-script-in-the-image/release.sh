#!/bin/sh
docker build -t acme/notes .
docker login -u acme -p "$DOCKER_PASSWORD"
docker push acme/notes
