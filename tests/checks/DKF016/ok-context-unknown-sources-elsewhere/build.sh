#!/bin/sh
# builds from the repository root
docker buildx build -f docker/Dockerfile -t acme/npm:dev .
