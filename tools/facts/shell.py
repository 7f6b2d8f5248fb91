"""Shell and make: whether a text runs docker or tests, Makefile targets and variables, a shell text split into commands."""
from __future__ import annotations

import re
from dataclasses import dataclass

# ------------------------------------------------------------------------------------ shell and make

_DOCKER_CMD = re.compile(r"(?<![\w./-])(docker(\s+compose)?|docker-compose|podman(-compose)?)\s+[-\w$]")


def runs_docker(text: str | None) -> bool:
    """The shell text runs docker, docker compose or docker-compose as a command (comments and echoes aside)."""
    return any(_DOCKER_CMD.search(l) for l in code_lines(text or ""))


_TEST_RUN = re.compile(r"\bdotnet\s+test\b|\bpytest\b|\bpython\d?\s+-m\s+(pytest|unittest)\b|\b(npm|pnpm|yarn|bun)\s+"
                       r"(run\s+)?test\b|\bnpx\s+(vitest|jest)\b|\bvitest\b|\bjest\b|\bgo\s+test\b|\bmake\s+test\b"
                       r"|\bcargo\s+test\b|\bmvn\s+(-\S+\s+)*(test|verify)\b|\bgradlew?\s+test\b"
                       # Ruby, PHP, Elixir, Python runners and the end-to-end ones
                       r"|\brspec\b|\brails\s+test\b|\brake\s+(test|spec)\b|\bphpunit\b|\bartisan\s+test\b|\bpest\b"
                       r"|\bmix\s+test\b|\btox\b|\bnox\b|\bmanage\.py\s+test\b|\bctest\b|\bbats\b|\bdeno\s+test\b"
                       r"|\bplaywright\s+test\b|\bcypress\s+run\b|\bgotestsum\b|\bflutter\s+test\b"
                       # a test image built and run, a test build target, a step named for tests
                       r"|Dockerfile\.tests?\b|\btarget:\s*tests?\b|\bdocker\s+run\b[^\n]*-tests?\b"
                       r"|\bname:[^\n]*\b(?:[Tt]ests?|RSpec|rspec|[Ss]pecs?)\b")


# A package install names test runners without running them (`pip install flake8 pytest`, `npm i -D jest`): the
# install clause, up to the next `&&`, `;` or `|`, is no test run.
_INSTALLS = re.compile(r"\b(?:pip3?|python\d?(?:\.\d+)?[ \t]+-m[ \t]+pip|uv[ \t]+pip|pipx|npm|pnpm|yarn|bun|gem|composer|"
                       r"poetry|conda|mamba|apt-get|apt|apk|brew|dnf|yum)[ \t]+(?:install|add|i|require)\b[^;&|\n]*")


def runs_tests(text: str | None) -> bool:
    """The text runs a test suite (pytest, dotnet test, npm test, vitest, go test...), not only installs one."""
    return bool(_TEST_RUN.search(_INSTALLS.sub(" ", text or "")))


def test_commands(text: str | None) -> int:
    """How many test-suite runs the text holds (comments and installs aside)."""
    return sum(len(_TEST_RUN.findall(_INSTALLS.sub(" ", line))) for line in code_lines(text or ""))


@dataclass
class MakeTarget:
    name: str
    first: int  # 1-based line of `name:`
    last: int  # last recipe line
    recipe: list[str]


# The name ends on a non-space (not a lazy `*?` before `\s*`, quadratic on a long run of spaces).
_MAKE_RULE = re.compile(r"^([A-Za-z0-9_.%/$(){}-](?:[A-Za-z0-9_.%/ $(){}-]*[A-Za-z0-9_.%/$(){}-])?)\s*::?(?!=)(.*)$")
_MAKE_VAR = re.compile(r"^\s*(?:export\s+|override\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*(?:\?|:|::|\+|!)?=\s*(.*)$")


def makefile_targets(text: str | None) -> list[MakeTarget]:
    lines = (text or "").split("\n")
    out: list[MakeTarget] = []
    current: MakeTarget | None = None
    for number, line in enumerate(lines, 1):
        if line.startswith("\t"):
            if current is not None:
                current.recipe.append(line)
                current.last = number
            continue
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _MAKE_RULE.match(line)
        if m and not _MAKE_VAR.match(line):
            current = MakeTarget(m.group(1).strip(), number, number, [])
            out.append(current)
        else:
            current = None
    return out


def makefile_variables(text: str | None) -> dict[str, str]:
    out = {}
    for line in (text or "").split("\n"):
        m = _MAKE_VAR.match(line)
        if m and not line.startswith("\t"):
            out[m.group(1)] = m.group(2)
    return out


def make_target_ok(target: MakeTarget, variables: dict[str, str]) -> bool:
    """A Makefile target is infra when its recipe calls docker/compose (directly or through a variable) or
    runs the test suite (which POL010 then guards); a target with no recipe (aliases, `.PHONY`) is too."""
    if target.name.startswith("."):
        return True
    recipe = "\n".join(l.lstrip("\t@-+ ") for l in target.recipe)
    if not recipe.strip():
        return True
    expanded = re.sub(r"\$[({]([A-Za-z_][A-Za-z0-9_]*)[)}]", lambda m: variables.get(m.group(1), m.group(0)), recipe)
    if runs_docker(expanded):
        return True
    lines = [l for l in code_lines(expanded) if l.strip()]
    return bool(lines) and all(runs_tests(l) or re.match(r"^\s*(cd|set|export)\b", l) for l in lines)


def makefile_is_infra(text: str | None) -> bool:
    variables = makefile_variables(text)
    return any(runs_docker("\n".join(t.recipe)) or make_target_ok(t, variables) and t.recipe
               for t in makefile_targets(text))


def code_lines(text: str) -> list[str]:
    """Lines that are not comments or echoes (what a script or config would actually run)."""
    out = []
    for line in text.split("\n"):
        s = line.strip()
        if not s or s.startswith(("#", "//")) or re.match(r"^(echo|printf)\b", s):
            continue
        out.append(line)
    return out


_BLANKS = " \t\r\n"


def split_words(text: str, comments: bool = False) -> list[str]:
    """`shlex.split(text, comments)`, word for word (POSIX quotes, escapes, `#` comments), in linear time:
    shlex adds each character to its token string, quadratic on a long quoted word (8 s for a 200 KB
    `run:` line). ValueError on an unclosed quote or a trailing backslash, as shlex raises."""
    words: list[str] = []
    token: list[str] = []
    quoted = False
    state, escaped_from = " ", " "
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        i += 1
        if state in " a":
            if c in _BLANKS:
                if state == "a" and (token or quoted):
                    words.append("".join(token))
                token, quoted, state = [], False, " "
            elif comments and c == "#":
                end = text.find("\n", i)
                i = n if end < 0 else end + 1
                if state == "a" and (token or quoted):
                    words.append("".join(token))
                token, quoted, state = [], False, " "
            elif c in "'\"":
                state = c
            elif c == "\\":
                escaped_from, state = "a", "\\"
            else:
                token.append(c)
                state = "a"
        elif state == "\\":
            if escaped_from == '"' and c not in ('"', "\\"):
                token.append("\\")  # inside double quotes a backslash escapes only `"` and itself
            token.append(c)
            state = escaped_from
        else:  # inside quotes: a run of plain characters at once
            quoted = True
            stop = text.find(state, i - 1) if state == "'" else _next_of(text, i - 1, '"\\')
            if stop < 0:
                raise ValueError("No closing quotation")
            token.append(text[i - 1:stop])
            i = stop + 1
            if text[stop] == "\\":
                escaped_from, state = '"', "\\"
            else:
                state = "a"
    if state == "\\":
        raise ValueError("No escaped character")
    if state in "'\"":
        raise ValueError("No closing quotation")
    if token or quoted:
        words.append("".join(token))
    return words


def _next_of(text: str, start: int, chars: str) -> int:
    """The first index at or after `start` of any of `chars`, or -1."""
    found = [at for at in (text.find(ch, start) for ch in chars) if at >= 0]
    return min(found) if found else -1


def pipelines(command: str) -> list[list[list[str]]]:
    """A shell text as its pipelines (split on newlines, `&&`, `||`, `;`), each a list of simple commands
    (split on `|`), each command as words. Quotes that hold those separators are rare in scripts and RUN lines."""
    out: list[list[list[str]]] = []
    for segment in re.split(r"\n|&&|\|\||;", command.replace("\\\n", " ")):
        stages = []
        for part in segment.split("|"):
            part = part.strip()
            if not part:
                continue
            try:
                words = split_words(part, comments=True)
            except ValueError:
                words = part.split()
            if words:
                stages.append(words)
        if stages:
            out.append(stages)
    return out


def split_shell(command: str) -> list[list[str]]:
    """A shell text as simple commands (split on newlines, `&&`, `||`, `;`, `|`), each as words."""
    return [words for pipeline in pipelines(command) for words in pipeline]


_WRAPPERS = {"sudo", "env", "exec", "command", "time", "nice"}


_RESERVED = frozenset({"then", "else", "do", "!", "{", "("})


def program_of(words: list[str]) -> tuple[str, list[str]]:
    """The program a simple command runs (past `sudo`, `env A=1`, a path; `python3.12` is `python`) and its
    arguments."""
    i = 0
    while i < len(words) and words[i] in _RESERVED:  # `then curl …`, `do wget …`: the command after the keyword
        i += 1
    while i < len(words) and (words[i] in _WRAPPERS or "=" in words[i] and not words[i].startswith("-")
                              or words[i].startswith("-") and i and words[i - 1] in _WRAPPERS):
        i += 1
    if i >= len(words):
        return "", []
    name = words[i].rsplit("/", 1)[-1]
    return re.sub(r"(?<=[a-z])[\d.]+$", "", name) if name.startswith(("python", "php")) else name, words[i + 1:]


# ------------------------------------------------------------------------------------ healthchecks

_CURL_FAILS = re.compile(r"^(?:--fail(?:-with-body)?|-[a-zA-Z]*f[a-zA-Z]*)$")
# Output that a later part of the command judges: the status code written out, or the body searched.
_JUDGED = re.compile(r"%\{(?:http_code|response_code)\}|\|\s*grep\b|\bjq\b.*-e\b|\|\s*jq\b")


def curl_ignores_http_errors(command: str | None) -> bool:
    """A healthcheck command whose `curl` exits 0 on an HTTP error: no `-f`/`--fail`, and neither the status
    code nor the body judged afterwards. Such a check goes red only when nothing answers at all."""
    text = command or ""
    judged = bool(_JUDGED.search(text))
    for words in split_shell(text):
        words = [w.strip("()") for w in words if w.strip("()")]  # `(curl … ) || exit 1`: a subshell's command
        if program_of(words)[0] != "curl":
            continue
        return not (judged or any(_CURL_FAILS.match(w) for w in words[1:]))
    return False


_LIST_OPERATOR = re.compile(r"(\|\||&&|;|\n)")


def always_succeeds(command: str | None) -> str | None:
    """How a healthcheck command exits 0 whatever it checked, or None: its last command runs after `||` or `;` and
    is `true`, `:`, `exit 0` or `echo …` (`curl … || exit 0`, `… && echo 0 || echo 1`, `pg_isready; exit 0`). Such a
    check never goes red: `service_healthy` waits for nothing. A command that is only `true` (often a variable's
    value that switches the check off on a developer's machine) checks nothing and is not said here."""
    segments: list[tuple[str | None, str]] = []
    before = None
    for part in _LIST_OPERATOR.split((command or "").replace("\\\n", " ")):
        if _LIST_OPERATOR.fullmatch(part):
            before = part
        elif part.strip():
            segments.append((before, part.strip()))
    if not segments:
        return None
    before, last = segments[-1]

    def program_and_args(text: str) -> tuple[str, list[str]]:
        try:
            return program_of(split_words(text, comments=True))
        except ValueError:
            return program_of(text.split())

    program, args = program_and_args(last)
    succeeds = program in ("true", ":", "echo", "printf") or program == "exit" and args[:1] == ["0"]
    if not succeeds or len(segments) < 2 or before not in ("||", ";", "\n"):
        return None
    for _, text in segments[:-1]:
        earlier, earlier_args = program_and_args(text)
        if earlier == "false" or earlier == "exit" and earlier_args[:1] not in ([], ["0"]):
            return None  # `grep -q 'not running' && exit 1 || exit 0`: an inverted test that can fail
    return f"`{'|| ' if before == '||' else '; '}{last}`"


_CASE_PATTERN = re.compile(r"^[^\s()]*\)[ \t]*")  # `web)`, `*)`: a case branch's label before its command
_CLOSERS = frozenset({"fi", "done", "esac", "}", ";;", "else", "then", "do", ")"})
_TRAPS_STOP = re.compile(r"^[ \t]*trap\b.*\b(?:SIG)?(?:TERM|INT|QUIT|15|2)\b", re.M)
_NOT_A_SERVER = frozenset({"echo", "printf", "true", ":", "set", "export", "cd", "source", ".", "exit", "return",
                           "unset", "shift", "local", "readonly", "umask", "ulimit", "chown", "chmod", "mkdir", "rm",
                           "cp", "mv", "ln", "touch", "sed", "envsubst", "cat", "test", "[", "[[", "if", "while",
                           "for", "case", "else", "elif", "then", "do", "done", "fi"})


def shell_tokens(line: str) -> list[str]:
    """A command line's words and its operators (`;`, `&&`, `||`, `|`, `&` as tokens of their own), quotes read as
    the shell reads them (`nginx -g 'daemon off;'` is three words), a comment dropped; an unbalanced quote falls
    back to splitting on blanks."""
    import shlex

    try:
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        return list(lexer)
    except ValueError:
        return line.split()


def _last_list_element(line: str) -> list[str]:
    """The words of a command line's last element after `;`, `&&` or `||` (a pipeline kept whole)."""
    out: list[str] = []
    for token in shell_tokens(line):
        if token in (";", "&&", "||", ";;"):
            out = []
        else:
            out.append(token)
    return out


def runs_without_exec(script: str | None) -> str | None:
    """The command an entrypoint script ends by running as its own child, without `exec` (`gunicorn app:app`,
    `su-exec app "$@"`, `supervisord -n`), or None: the script (a shell as PID 1, or tini's only child) then never
    passes docker stop's SIGTERM on, and the server is killed at the timeout. None when the script hands over with
    `exec`, traps the stop signals itself, ends in something that is no server (`echo`, a test), or runs it in the
    background (`… &`)."""
    text = script or ""
    if not text.strip() or _TRAPS_STOP.search(text):
        return None
    first = text.lstrip().splitlines()[0]
    if first.startswith("#!") and not re.search(r"\b(?:ba|da|a|z|k)?sh\b", first):
        return None  # a Python or Node program, not a shell script
    lines: list[str] = []
    for raw in text.replace("\\\n", " ").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        words = line.rstrip(";").split()
        if all(w in _CLOSERS for w in words):
            continue
        lines.append(line)
    while lines and re.match(r"exit\b|return\b", lines[-1]):
        lines.pop()  # `gunicorn …` then `exit $?`: the server was the last thing it ran
    if not lines:
        return None
    last = _CASE_PATTERN.sub("", lines[-1])  # `*) exec "$@"`: a case branch's command
    if last.endswith("&") and not last.endswith("&&"):
        return None
    words = _last_list_element(last)
    last_command = " ".join(words)
    if not words or re.search(r"(?:^|[;&|({]\s*|\bthen\s+|\belse\s+)exec\s", last):
        return None  # `exec "$@" || usage`, `[ … ] && exec gunicorn …`: the shell hands over
    program, _ = program_of([w for w in words if w not in _CLOSERS] or words)
    if not program or program in _NOT_A_SERVER or program.startswith("$") and program != "$@":
        return None
    if re.search(rf"(?:^|\n)[ \t]*(?:function[ \t]+)?{re.escape(program)}[ \t]*(?:\(\)|\{{)", text):
        return None  # `main "$@"` calls a function of the script, which may exec: cannot tell
    return last if len(last) <= 80 else last_command[:77] + "..."


_FILE_CHORES = frozenset({"chown", "chmod", "chgrp", "mkdir", "touch", "ln", "cp", "mv", "rm", "echo", "true", "exit",
                          "set", "find", "ls", "cat", "printf", "sleep"})


def only_file_chores(command: str | None) -> bool:
    """A command (a helper service's entrypoint and command, shell text included) that only prepares files:
    `chown -R 1001:1001 /mnt/data`, `mkdir -p … && chmod 700 …`. Such a one-shot helper's base image release changes
    nothing the stack keeps."""
    programs = [program_of(words)[0] for words in split_shell(command or "") if words]
    return bool(programs) and all(p in _FILE_CHORES for p in programs)

