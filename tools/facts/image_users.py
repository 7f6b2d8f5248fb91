"""The user a base image runs as when a Dockerfile sets no `USER`: root for most images, a non-root user for
the images built to run as one. DKF003 asks here, once; anything not listed is taken as root.
"""
from __future__ import annotations

import fnmatch

# (registry/repository pattern, tag pattern, user): the first match wins. Documented by each image's vendor.
NON_ROOT_BASES: tuple[tuple[str, str, str], ...] = (
    ("gcr.io/distroless/*", "*nonroot*", "nonroot (65532)"),  # distroless :nonroot and :debug-nonroot
    ("cgr.dev/chainguard/*", "*-dev", ""),  # their -dev variants are not promised to: root here
    ("cgr.dev/chainguard/*", "*", "nonroot (65532)"),  # Chainguard images run as 65532
    ("docker.io/bitnami/*", "*", "1001"),  # Bitnami images run as uid 1001
    ("docker.io/bitnamilegacy/*", "*", "1001"),
    ("docker.io/nginxinc/nginx-unprivileged", "*", "nginx (101)"),
    ("mcr.microsoft.com/dotnet/*", "*chiseled*", "app (1654)"),  # chiseled .NET images run as app
    ("docker.io/grafana/grafana*", "*", "grafana (472)"),
    ("docker.io/prom/*", "*", "nobody"),
    ("quay.io/keycloak/keycloak", "*", "keycloak (1000)"),
)


def base_image_user(registry: str, repository: str, tag: str | None) -> str | None:
    """The non-root user the image runs as by its own configuration, or None (root, or not known here)."""
    name = f"{registry}/{repository}".lower()
    for pattern, tag_pattern, user in NON_ROOT_BASES:
        if fnmatch.fnmatchcase(name, pattern) and fnmatch.fnmatchcase((tag or "latest").lower(), tag_pattern):
            return user or None
    return None
