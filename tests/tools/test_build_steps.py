"""tools/facts/build_steps.py: what a build's commands do, read the way real Dockerfiles write them."""
from __future__ import annotations

import time

import pytest

from tools.facts.build_steps import (build_packages, is_secret_file, unpinned_installs, unverified_downloads,
                                     world_writable)


@pytest.mark.parametrize("run, found", [
    ("curl -fsSL https://deb.nodesource.com/setup_20.x | bash -", "https://deb.nodesource.com/setup_20.x piped into bash"),
    ("curl -sSL https://get.acme.sh | sudo sh -s -- --install", "https://get.acme.sh piped into sh"),
    ("wget -qO- https://x.io/i.py | python3 -", "https://x.io/i.py piped into python"),
    ("curl -fsSL -o /tmp/t.sh https://x.io/t.sh && bash /tmp/t.sh", "https://x.io/t.sh run without a checksum"),
    ("wget https://x.io/a/tool_1.2_amd64.deb && dpkg -i tool_1.2_amd64.deb", "installed by dpkg"),
    ("curl -fsSL https://x.io/tool.tar.gz | tar -xz -C /usr/local/bin", "https://x.io/tool.tar.gz unpacked by tar"),
    ("wget -q https://x.io/ff.tar.xz && tar -xf ff.tar.xz -C /opt", "https://x.io/ff.tar.xz unpacked by tar"),
    ("wget -q https://x.io/sdk.zip && unzip sdk.zip -d /opt/sdk", "https://x.io/sdk.zip unpacked by unzip"),
    ('curl -sSL "${URL}/ftl-${ARCH}" -o /usr/bin/ftl && chmod +x /usr/bin/ftl', "${URL}/ftl-${ARCH} made executable"),
    ("curl -Lo /tmp/kubectl https://dl.k8s.io/kubectl && install -m 0755 /tmp/kubectl /usr/local/bin/kubectl",
     "https://dl.k8s.io/kubectl made executable"),
])
def test_unverified_downloads_are_found(run, found):
    got = unverified_downloads(run)
    assert len(got) == 1 and found in got[0], got


@pytest.mark.parametrize("run", [
    "curl -fsSL https://x.io/t.sh -o t.sh && echo \"$SUM  t.sh\" | sha256sum -c - && sh t.sh",
    "curl -fsSL https://x.io/KEY.asc | gpg --dearmor -o /usr/share/keyrings/x.gpg",
    "curl -fsSL https://x.io/KEY.asc | tar -xz -C /tmp/keys",
    "curl -fsSL https://x.io/tool.tar.gz -o t.tgz && curl -fsSL https://x.io/SHA256SUMS | sha256sum -c && tar xzf t.tgz",
    "curl -fsSL -o /tmp/notes.txt https://x.io/notes.txt && chmod 644 /tmp/notes.txt",
    "curl -fsS http://localhost:8080/health || exit 1",
    "echo 'curl https://x | sh' > /usr/local/bin/notes.txt",
    "apt-get install -y curl && sh ./scripts/local.sh",
])
def test_verified_or_harmless_fetches_are_not(run):
    assert unverified_downloads(run) == []


@pytest.mark.parametrize("run, found", [
    ("pip wheel -w /w apprise uwsgi==2.0.28", "pip wheel apprise (no version)"),
    ("python3 -m pip download -d /d requests", "pip download requests (no version)"),
    ("go get github.com/a/b", "go get github.com/a/b"),
    ("go get github.com/a/b@latest", "go get github.com/a/b@latest"),
    ("go install golang.org/x/tools/gopls@latest", "go install golang.org/x/tools/gopls@latest"),
    ("npm i -g pnpm@^9", "pnpm@^9 (a range"),
    ("yarn global add @nestjs/cli@latest", "@nestjs/cli@latest (a range"),
    ("corepack prepare yarn@stable --activate", None),
])
def test_unpinned_installs(run, found):
    got = unpinned_installs(run)
    if found is None:
        assert got == []
    else:
        assert len(got) == 1 and found in got[0], got


@pytest.mark.parametrize("run", [
    "pip wheel -r requirements.txt -w /wheels", "pip wheel --no-deps -w /w .", "go get -d -v ./...",
    "go get github.com/a/b@v1.2.3", "npm install -g npm@10.8.2", "pip install flask",  # DL3013 says that one
])
def test_pinned_or_hadolints_own_are_quiet(run):
    assert unpinned_installs(run) == []


def test_world_writable_modes_and_the_scratch_folders_left_alone():
    assert world_writable("chmod -R 0777 /srv/app/storage") == ["/srv/app/storage (chmod -R 0777)"]
    assert world_writable("chmod go+rw,u+x /data") == ["/data (chmod go+rw,u+x)"]
    assert world_writable("chmod 666 /app/db.sqlite") == ["/app/db.sqlite (chmod 666)"]
    for quiet in ("chmod 1777 /srv/shared", "chmod 777 /tmp", "chmod -R 777 /var/tmp/cache", "chmod 755 /x",
                  "chmod u+w,g+w /x", "chmod +x /entrypoint.sh", "chmod 664 /x"):
        assert world_writable(quiet) == [], quiet


def test_build_packages_added_and_removed():
    assert build_packages("apt-get install -y gcc=4:12.2.0-3 make libssl-dev") == (["gcc=4:12.2.0-3", "make"], [])
    added, removed = build_packages("apk add --virtual .deps build-base && make && apk del .deps")
    assert added == ["build-base"] and removed == ["build-base"]
    assert build_packages("apt-get install -y curl && apt-get autoremove -y")[1] == []


def test_secret_files_by_name():
    assert [is_secret_file(p) for p in (".env", "./.env", "config/.env.production", "id_ed25519")] == [True] * 4
    assert [is_secret_file(p) for p in (".env.example", ".env.sample", "env", ".envrc.d", "app.env.ts")] == [False] * 5


def test_each_reader_is_linear_on_a_long_line():
    def cost(n: int) -> float:
        text = "RUN " + "curl -fsSL https://x.io/a | tar x && " * n + "gpg " * n + "chmod  " + " " * (50 * n) + "777 /x"
        start = time.perf_counter()
        for reader in (unverified_downloads, unpinned_installs, world_writable, build_packages):
            reader(text)
        return time.perf_counter() - start
    cost(20)
    small, large = cost(100), cost(1000)
    assert large < 10 * small * 4 + 0.05, (small, large)  # 10x the input, ~10x the time (generous slack)


def test_a_package_unpacked_from_a_download_and_a_variable_url():
    run = """if [ "$TARGETPLATFORM" = "linux/amd64" ]; then
  curl https://packages.acme.io/keys/acme.asc | gpg --dearmor -o /usr/share/keyrings/acme.gpg
  curl "$driver_url" --location --output /tmp/driver.zip
  unzip /tmp/driver.zip -d /tmp/driver
  dpkg -i /tmp/driver/*.deb
fi"""
    assert unverified_downloads(run) == ["$driver_url installed by dpkg without a checksum"]
    # a key dearmored is no verification of anything; gpg --verify is
    assert unverified_downloads(run.replace("unzip", "gpg --verify /tmp/driver.zip.sig /tmp/driver.zip && unzip")) == []
    assert unverified_downloads(run.replace("unzip", "sudo gpg --batch --verify d.sig /tmp/driver.zip && unzip")) == []


def test_go_get_after_a_go_mod_made_in_the_build():
    assert unpinned_installs("go mod init dispatch && go get") == [
        "go get after go mod init (no go.mod kept: every dependency at its newest release)"]
    assert unpinned_installs("go mod download && go get -v") == []


@pytest.mark.parametrize("run, env, found", [
    ("npm ci", {}, "npm ci (devDependencies too)"),
    ("npm ci", {"NODE_ENV": "production"}, None),
    ("npm ci --omit=dev", {}, None),
    ("npm install && npm run build && npm prune --omit=dev", {}, None),
    ("yarn install --frozen-lockfile", {}, "yarn install (devDependencies too)"),
    ("pnpm install --prod --frozen-lockfile", {}, None),
    ("composer install --no-interaction --prefer-dist", {}, "composer install (require-dev too)"),
    ("composer install --no-dev -o", {}, None),
    ("poetry install --only main,dev", {}, "poetry install --only main,dev"),
    ("poetry install --without dev --no-root", {}, None),
    ("poetry install --no-root", {}, "poetry install (the dev group too)"),
    ("uv sync --frozen", {}, "uv sync (the dev group too)"),
    ("uv sync --frozen --no-dev", {}, None),
    ("pip install -r requirements/dev.txt", {}, "pip install -r requirements/dev.txt"),
    ("pip install -r requirements.txt", {}, None),
    ("npm install -g pm2@5.4.2", {}, None),
])
def test_dev_dependency_installs(run, env, found):
    from tools.facts.build_steps import dev_dependency_installs

    got = dev_dependency_installs(run, env)
    assert got == ([found] if found else []), got


def test_a_download_in_one_step_unpacked_in_the_next_is_found_once():
    """A Dockerfile downloads in one RUN and unpacks in the next: the stage carries what was fetched."""
    fetched: dict[str, str] = {}
    assert unverified_downloads("wget -q https://x.io/ff.tar.xz", fetched) == []
    assert unverified_downloads("mkdir t && tar -xf ff.tar.xz -C t", fetched) == [
        "https://x.io/ff.tar.xz unpacked by tar without a checksum"]
    assert unverified_downloads("tar -xf ff.tar.xz -C u", fetched) == []  # said once
    fetched = {}
    unverified_downloads("wget -q https://x.io/ff.tar.xz", fetched)
    assert unverified_downloads('echo "$SUM  ff.tar.xz" | sha256sum -c -', fetched) == []
    assert unverified_downloads("tar -xf ff.tar.xz", fetched) == []  # checked in between


def test_a_checksum_verifies_the_files_it_names_not_every_download_of_the_step():
    """One RUN checks Node.js's tarball against its SHASUMS, then downloads the app's release zip and unzips it with
    no check: the zip is reported; a download inside a `case … in pattern)` branch is read too."""
    from tools.facts.build_steps import unverified_downloads

    step = ('wget -O node.tgz "$NODE_URL" && echo "$NODE_SHA  node.tgz" | sha256sum -c - && tar -xzf node.tgz && '
            'wget --tries=20 "${APP_ZIP_URL}" && unzip "app-${VERSION}.zip"')
    assert unverified_downloads(step) == ["${APP_ZIP_URL} unpacked by unzip without a checksum"]
    verified = 'wget -O app.zip "$URL" && echo "$SHA  app.zip" | sha256sum -c - && unzip app.zip'
    assert unverified_downloads(verified) == []
    branch = ('case "$TARGETPLATFORM" in "linux/amd64") curl -L -o /tmp/lib.zip "https://example.org/lib-x64.zip" ;; '
              '*) exit 1 ;; esac && unzip /tmp/lib.zip -d /opt/lib')
    assert unverified_downloads(branch) == ["https://example.org/lib-x64.zip unpacked by unzip without a checksum"]
    listed = 'curl -fsSLO https://example.org/t.tgz && sha256sum -c SHASUMS && tar xzf t.tgz'
    assert unverified_downloads(listed) == []
