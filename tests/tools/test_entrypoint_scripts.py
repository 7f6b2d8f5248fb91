"""Entrypoint scripts that keep docker stop's SIGTERM from the server (tools/facts/shell.py: runs_without_exec)."""
from __future__ import annotations

import pytest

from tools.facts.shell import runs_without_exec


@pytest.mark.parametrize("script, last", [
    ("#!/bin/sh\nset -e\nphp artisan migrate\n/usr/bin/supervisord -c /etc/supervisord.conf\n",
     "/usr/bin/supervisord -c /etc/supervisord.conf"),
    ('#!/bin/sh\n"$@"\n', '"$@"'),
    ("#!/bin/sh\ngunicorn app:app | tee /var/log/app.log\n", "gunicorn app:app | tee /var/log/app.log"),
    ("#!/bin/sh\nnginx -g 'daemon off;'\nexit $?\n", "nginx -g 'daemon off;'"),
    ("#!/bin/sh\ncd /app && npm run migrate && node server.js\n", "cd /app && npm run migrate && node server.js"),
    ("#!/bin/sh\nnode a.js &\nnode b.js &\nwait\n", "wait"),
    ("#!/bin/sh\nif [ -n \"$PUID\" ]; then\n  chown app /data\nfi\nsu-exec app ./listmonk\n", "su-exec app ./listmonk"),
])
def test_a_server_left_as_the_shells_child_is_said(script, last):
    assert runs_without_exec(script) == last


@pytest.mark.parametrize("script", [
    '#!/bin/sh\nset -e\nexec "$@"\n',
    "#!/bin/sh\nsleep 2 && exec node index.js\n",
    "#!/bin/bash\ntrap 'kill -TERM $pid' TERM\nnode server.js &\npid=$!\nwait $pid\n",
    "#!/bin/sh\nchown -R app /data\n",                      # prepares files: no server here
    "#!/bin/sh\necho ready\n",
    "#!/bin/sh\nnode server.js &\n",                        # backgrounded: the script ends
    "#!/bin/sh\n$RUN_CMD\n",                                 # what runs is a variable's: cannot tell
    "", None,
])
def test_a_script_that_hands_over_or_runs_no_server_is_not_said(script):
    assert runs_without_exec(script) is None


@pytest.mark.parametrize("script", [
    '#!/bin/sh\nexec "$@" || usage\n',                      # exec hands over; the rest runs only when it fails
    "#!/bin/sh\n[ -n \"$DEBUG\" ] && set -x; exec gunicorn app:app\n",
    "#!/usr/bin/env python3\nimport os\nmain()\n",           # a Python program is no shell
])
def test_exec_anywhere_on_the_last_line_and_programs_that_are_no_shell_are_not_said(script):
    assert runs_without_exec(script) is None


@pytest.mark.parametrize("script, last", [
    ('#!/bin/sh\ncase "$1" in\n  web) exec gunicorn app ;;\n  *) exec "$@"\n  ;;\nesac\n', None),
    ('#!/bin/sh\ncase "$1" in\n  *) node server.js\n  ;;\nesac\n', "node server.js"),
    ('#!/bin/bash\nmain() {\n  exec nginx -g "daemon off;"\n}\nmain "$@"\n', None),   # a function that may exec
    ("#!/bin/bash\nfunction start {\n  exec nginx\n}\nstart\n", None),
])
def test_a_case_branch_is_read_past_its_label_and_a_function_call_is_not_judged(script, last):
    assert runs_without_exec(script) == last
