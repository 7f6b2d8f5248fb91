"""Build steps that install or fetch with their signature or TLS check turned off (build_steps.checks_turned_off)."""
from __future__ import annotations

import pytest

from tools.facts.build_steps import checks_turned_off


@pytest.mark.parametrize("command, said", [
    ("apk add --allow-untrusted /tmp/x.apk", "apk --allow-untrusted"),
    ("yum -y localinstall --nogpgcheck https://x/rpmfusion.rpm", "yum --nogpgcheck"),
    ("zypper --no-gpg-checks install x", "zypper --no-gpg-checks"),
    ("apt-get install -y --allow-unauthenticated x", "apt-get --allow-unauthenticated"),
    ("apt-get -o Acquire::AllowInsecureRepositories=true update", "AllowInsecureRepositories"),
    ("echo 'deb [arch=amd64 trusted=yes] http://repo.example/ ./' > /etc/apt/sources.list.d/x.list", "[trusted=yes]"),
    ("printf '[x]\\nbaseurl=https://x\\ngpgcheck=0\\n' > /etc/yum.repos.d/x.repo", "gpgcheck=0"),
    ("curl -fsSLk https://x/ca.pem -o /ca.pem", "curl -k"),
    ("curl --insecure -o x https://x", "curl -k"),
    ("wget --no-check-certificate https://x/y", "wget --no-check-certificate"),
    ("pip install --trusted-host pypi.example.com foo==1.0", "pip --trusted-host"),
    ("git -c http.sslVerify=false clone https://x/y.git", "http.sslVerify"),
    ("npm config set strict-ssl false", "strict-ssl"),
    ("sed -i 's#https#http#g' /etc/apk/repositories", "from https to http"),
])
def test_a_check_turned_off_is_said(command, said):
    found = checks_turned_off(command)
    assert len(found) == 1 and said in found[0], found


@pytest.mark.parametrize("command", [
    "apk add --no-cache curl=8.11.1-r0",
    "apt-get install -y --no-install-recommends ca-certificates",
    "curl -fsSL -o /x https://x/y && echo 'abc  /x' | sha256sum -c -",
    "curl -fsSL -H 'Authorization: token k' https://x",    # a value holding a k is no flag
    "sed -i 's/http:/https:/' /etc/apk/repositories",       # the other way round
    "sed -i 's/https/http/' /app/config.js",                # not the package sources
    "git config --global http.sslVerify true",
    "", None,
])
def test_a_step_that_keeps_its_checks_is_not_said(command):
    assert checks_turned_off(command) == []


def test_a_local_repository_of_packages_the_step_built_is_trusted_by_design():
    built_here = ('echo "deb [ trusted=yes ] file://$tempDir ./" > /etc/apt/sources.list.d/temp.list; '
                  'apt-get -o Acquire::GzipIndexes=false update')
    assert checks_turned_off(built_here) == []
