"""Change proposals as data: parse a unified diff, resolve its targets inside the platform, hash it,
split it per repository for `git apply`, and say which compose services it impacts.

A patch's paths are platform-relative (`anime-saas-api/Dockerfile` lives in the api submodule).
Nothing here writes a file or runs `git apply`: the gate does, after policy and approval.
"""
from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path

from agent.core.errors import UserError
from agent.core.text import first_hidden

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@(.*)$")
_GIT_HEADER = "diff --git "
# Extended header lines of `diff --git` (kept verbatim when a diff is split per repo).
_EXT_PREFIXES = ("old mode ", "new mode ", "deleted file mode ", "new file mode ", "similarity index ",
                 "dissimilarity index ", "index ", "rename from ", "rename to ", "copy from ", "copy to ")
_TS_SUFFIX = re.compile(r"\t.*$")  # `--- file\t2024-01-01 00:00:00` (diff -u timestamps)
_C_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "a": "\a", "b": "\b", "f": "\f", "r": "\r", "v": "\v"}


class ChangeError(UserError):
    """A patch that cannot be read or resolved: one line naming what is wrong (exit 2)."""


@dataclass
class Hunk:
    old_start: int
    old_len: int
    new_start: int
    new_len: int
    lines: list[str]  # with their ' ', '+', '-' prefix ('\' markers included)
    section: str = ""  # the text after the second @@ (function context), kept for git apply output

    @property
    def added_lines(self) -> list[str]:
        return [l[1:] for l in self.lines if l.startswith("+")]

    @property
    def removed_lines(self) -> list[str]:
        return [l[1:] for l in self.lines if l.startswith("-")]

    def header(self) -> str:
        return f"@@ -{self.old_start},{self.old_len} +{self.new_start},{self.new_len} @@{self.section}"

    def added_line_numbers(self) -> list[int]:
        """New-file line numbers of this hunk's added lines."""
        out, new = [], self.new_start if self.new_len else self.new_start + 1
        for line in self.lines:
            tag = line[:1]
            if tag == "+":
                out.append(new)
                new += 1
            elif tag == " ":
                new += 1
        return out

    def touched_old_lines(self) -> list[int]:
        """Old-file line numbers this hunk removes, or inserts after (0 = before the first line)."""
        out: list[int] = []
        old = self.old_start if self.old_len else self.old_start + 1
        for line in self.lines:
            tag = line[:1]
            if tag == "-":
                out.append(old)
                old += 1
            elif tag == "+":
                out.append(old - 1 if old > 1 else 0)
            elif tag == " ":
                old += 1
        return out


@dataclass
class FilePatch:
    path: str
    old_path: str | None
    status: str  # modify | add | delete | rename | copy | mode
    binary: bool
    hunks: list[Hunk]
    text: str
    ext_headers: list[str] = field(default_factory=list, repr=False)  # mode/index/similarity lines
    binary_lines: list[str] = field(default_factory=list, repr=False)  # "GIT binary patch" block

    @property
    def added_lines(self) -> list[str]:
        return [l for h in self.hunks for l in h.added_lines]

    @property
    def removed_lines(self) -> list[str]:
        return [l for h in self.hunks for l in h.removed_lines]

    @property
    def changed_lines(self) -> list[str]:
        return self.removed_lines + self.added_lines


@dataclass
class Patch:
    text: str
    files: list[FilePatch]
    had_crlf: bool


# ------------------------------------------------------------------------------- parsing

def _decode(data: str | bytes, max_bytes: int) -> str:
    if isinstance(data, (bytes, bytearray)):
        if len(data) > max_bytes:
            raise ChangeError(f"patch is {len(data)} bytes, over the {max_bytes}-byte cap",
                              "split it into smaller proposals")
        try:
            return bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ChangeError(f"patch is not valid UTF-8 ({exc.reason} at byte {exc.start})",
                              "save the diff as UTF-8") from exc
    if not isinstance(data, str):
        raise ChangeError(f"patch must be text, not {type(data).__name__}")
    size = len(data.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise ChangeError(f"patch is {size} bytes, over the {max_bytes}-byte cap", "split it into smaller proposals")
    try:
        data.encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates from a lossy decode upstream
        raise ChangeError(f"patch is not valid UTF-8 (character {exc.start})", "save the diff as UTF-8") from exc
    return data


def _unquote(name: str) -> str:
    """A path as git writes it: C-quoted (`"a/caf\\303\\251"`) when it holds special characters."""
    if not (len(name) >= 2 and name.startswith('"') and name.endswith('"')):
        return name
    body, out, i = name[1:-1], bytearray(), 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in "01234567" and re.match(r"[0-7]{3}", body[i + 1:i + 4]):
                if int(body[i + 1:i + 4], 8) > 0o377:
                    raise ChangeError(f"path {name}: \\{body[i + 1:i + 4]} is not a byte (git writes \\000 to \\377)")
                out.append(int(body[i + 1:i + 4], 8))
                i += 4
                continue
            out += _C_ESCAPES.get(nxt, nxt).encode("utf-8")
            i += 2
            continue
        out += c.encode("utf-8")
        i += 1
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ChangeError(f"path {name} is not valid UTF-8 once unquoted") from exc


def _quote(path: str) -> str:
    if not any(c in path for c in '"\\\t\n\r') and path == path.strip():
        return path
    esc = path.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return f'"{esc}"'


def _strip_prefix(path: str) -> str:
    """git apply's -p1: drop the first component (`a/`, `b/`, or a mnemonic prefix)."""
    return path.split("/", 1)[1] if "/" in path else path


def _git_header_paths(rest: str) -> tuple[str | None, str | None]:
    """(a, b) of `diff --git a/x b/x`, prefixes kept; None when the line cannot be split."""
    rest = rest.rstrip("\n")
    if rest.startswith('"'):
        m = re.match(r'("(?:[^"\\]|\\.)*")\s+(.*)$', rest)
        if not m:
            return None, None
        return _unquote(m.group(1)), _unquote(m.group(2).strip())
    if rest.endswith('"'):
        m = re.match(r'(\S+)\s+("(?:[^"\\]|\\.)*")$', rest)
        if m:
            return m.group(1), _unquote(m.group(2))
    # Unquoted names with spaces: the two halves are equal for anything but a rename.
    half = (len(rest) - 1) // 2
    if len(rest) % 2 == 1 and rest[half] == " " and _strip_prefix(rest[:half]) == _strip_prefix(rest[half + 1:]):
        return rest[:half], rest[half + 1:]
    m = re.match(r"(\S+) (\S+)$", rest)
    if m:
        return m.group(1), m.group(2)
    return None, None


def _file_name(line: str) -> str:
    """The name of a `--- ` / `+++ ` line, without a diff -u timestamp."""
    name = line[4:]
    if name.startswith('"'):
        m = re.match(r'("(?:[^"\\]|\\.)*")', name)
        return _unquote(m.group(1)) if m else name
    return _TS_SUFFIX.sub("", name).rstrip()


class _Block:
    """One file's lines while parsing."""

    def __init__(self, start: int, git: bool) -> None:
        self.start = start
        self.git = git
        self.a: str | None = None
        self.b: str | None = None
        self.minus: str | None = None
        self.plus: str | None = None
        self.ext: list[str] = []
        self.new_file = self.deleted = self.binary = False
        self.rename_from: str | None = None
        self.rename_to: str | None = None
        self.copy_from: str | None = None
        self.copy_to: str | None = None
        self.mode_change = False
        self.hunks: list[Hunk] = []
        self.binary_lines: list[str] = []
        self.end = start


def parse_patch(text: str | bytes, max_bytes: int = 1_000_000) -> Patch:
    """Read a `git diff` or plain unified diff. Raises ChangeError (one line) on anything malformed."""
    text = _decode(text, max_bytes)
    had_crlf = "\r\n" in text
    if had_crlf:
        text = text.replace("\r\n", "\n")
    if not text.strip():
        raise ChangeError("patch is empty", "pass a unified diff (git diff output) with --patch")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()

    blocks: list[_Block] = []
    i, n = 0, len(lines)
    cur: _Block | None = None

    def close(end: int) -> None:
        nonlocal cur
        if cur is not None:
            cur.end = end
            blocks.append(cur)
            cur = None

    while i < n:
        line = lines[i]
        if line.startswith(_GIT_HEADER):
            close(i)
            cur = _Block(i, git=True)
            cur.a, cur.b = _git_header_paths(line[len(_GIT_HEADER):])
            if cur.a is None:
                raise ChangeError(f"line {i + 1}: cannot read the file names of {line[:80]!r}")
            i += 1
            continue
        if line.startswith("--- ") and i + 1 < n and lines[i + 1].startswith("+++ ") and (
                cur is None or cur.minus is not None or cur.hunks or not cur.git):
            close(i)
            cur = _Block(i, git=False)
        if cur is None:
            i += 1  # preamble (commit message, `index` of a format-patch mail): ignored
            continue
        if line.startswith("--- ") and cur.minus is None and not cur.hunks:
            if i + 1 >= n or not lines[i + 1].startswith("+++ "):
                raise ChangeError(f"line {i + 1}: '---' header without a '+++' line after it")
            cur.minus, cur.plus = _file_name(line), _file_name(lines[i + 1])
            i += 2
            continue
        if cur.git and cur.minus is None and not cur.hunks and not cur.binary_lines:
            if line.startswith(_EXT_PREFIXES):
                cur.ext.append(line)
                if line.startswith("new file mode "):
                    cur.new_file = True
                elif line.startswith("deleted file mode "):
                    cur.deleted = True
                elif line.startswith(("old mode ", "new mode ")):
                    cur.mode_change = True
                elif line.startswith("rename from "):
                    cur.rename_from = _unquote(line[len("rename from "):])
                elif line.startswith("rename to "):
                    cur.rename_to = _unquote(line[len("rename to "):])
                elif line.startswith("copy from "):
                    cur.copy_from = _unquote(line[len("copy from "):])
                elif line.startswith("copy to "):
                    cur.copy_to = _unquote(line[len("copy to "):])
                i += 1
                continue
            if line.startswith("Binary files ") and line.endswith(" differ"):
                cur.binary = True
                cur.ext.append(line)
                i += 1
                continue
            if line == "GIT binary patch":
                cur.binary = True
                j = i
                while j < n and not lines[j].startswith(_GIT_HEADER):
                    j += 1
                while j > i and lines[j - 1] == "":
                    j -= 1
                cur.binary_lines = lines[i:j]
                i = j
                continue
        m = _HUNK.match(line)
        if m:
            if cur.minus is None:
                raise ChangeError(f"line {i + 1}: hunk header before the '---'/'+++' file names")
            i = _read_hunk(lines, i, m, cur, len(cur.hunks) + 1)
            continue
        if line == "-- ":  # format-patch signature: the diff is over, and nothing diff-like may follow
            later = next((j for j in range(i + 1, n) if lines[j].startswith((_GIT_HEADER, "--- ", "+++ ", "@@ "))),
                         None)
            if later is not None:
                raise ChangeError(f"line {i + 1}: a '-- ' signature line is followed by more diff (line {later + 1}); "
                                  f"git would apply what follows while it reads as a mail footer",
                                  "regenerate the patch with git diff")
            close(i)
            break
        if cur.hunks and line[:1] in ("+", "-", " ") and not line.startswith(("--- ", "+++ ")):
            name = _display_name(cur)
            raise ChangeError(f"{name}: hunk {len(cur.hunks)} ({cur.hunks[-1].header().split(' @@')[0]} @@) has more lines than its header says")
        if cur.minus is None and not cur.git:
            raise ChangeError(f"line {i + 1}: not a unified diff ({line[:60]!r})")
        i += 1  # stray text between files (mail footers, blank lines): git apply ignores it too
    close(n)

    if not blocks:
        raise ChangeError("not a unified diff: no 'diff --git' or '---'/'+++' file header found",
                          "pass the output of git diff")
    files = [_file_patch(b, lines) for b in blocks]
    files = [f for f in files if f is not None]
    if not files:
        raise ChangeError("the diff touches no file", "pass a diff with at least one file change")
    return Patch(text=text if text.endswith("\n") else text + "\n", files=files, had_crlf=had_crlf)


def _display_name(block: _Block) -> str:
    for name in (block.plus, block.minus, block.b, block.a):
        if name and name != "/dev/null":
            return _strip_prefix(name) if block.git or name.startswith(("a/", "b/")) else name
    return "?"


def _read_hunk(lines: list[str], i: int, m: re.Match, block: _Block, number: int) -> int:
    if any(g and len(g) > 18 for g in m.group(1, 2, 3, 4)):  # int() refuses 4300+ digits; no file has 10**18 lines
        raise ChangeError(f"line {i + 1}: hunk {number} header has a line number of more than 18 digits",
                          "regenerate the diff with git diff rather than editing it by hand")
    old_start, new_start = int(m.group(1)), int(m.group(3))
    old_len = int(m.group(2)) if m.group(2) is not None else 1
    new_len = int(m.group(4)) if m.group(4) is not None else 1
    header = lines[i]
    body: list[str] = []
    old_seen = new_seen = 0
    j = i + 1
    while j < len(lines) and (old_seen < old_len or new_seen < new_len):
        line = lines[j]
        tag = line[:1]
        if tag == " " or line == "":  # some editors strip the space of empty context lines
            old_seen += 1
            new_seen += 1
            body.append(line if line else " ")
        elif tag == "-":
            old_seen += 1
            body.append(line)
        elif tag == "+":
            new_seen += 1
            body.append(line)
        elif tag == "\\":
            body.append(line)
        else:
            break
        j += 1
    while j < len(lines) and lines[j].startswith("\\"):
        body.append(lines[j])
        j += 1
    if old_seen != old_len or new_seen != new_len:
        raise ChangeError(
            f"{_display_name(block)}: hunk {number} ({header.split(' @@')[0]} @@) says {old_len} old and "
            f"{new_len} new lines but has {old_seen} and {new_seen}",
            "regenerate the diff with git diff rather than editing it by hand")
    block.hunks.append(Hunk(old_start, old_len, new_start, new_len, body, m.group(5) or ""))
    return j


def _file_patch(b: _Block, lines: list[str]) -> FilePatch | None:
    minus = b.minus
    plus = b.plus
    if b.git:
        a_path = _strip_prefix(b.a) if b.a else None
        b_path = _strip_prefix(b.b) if b.b else None
        if minus and minus != "/dev/null":
            a_path = _strip_prefix(minus)
        if plus and plus != "/dev/null":
            b_path = _strip_prefix(plus)
    else:
        strip = (minus == "/dev/null" or minus.startswith("a/")) and (plus == "/dev/null" or plus.startswith("b/"))
        a_path = None if minus == "/dev/null" else (minus[2:] if strip else minus)
        b_path = None if plus == "/dev/null" else (plus[2:] if strip else plus)
    if b.rename_from is not None or b.rename_to is not None:
        status, old_path = "rename", b.rename_from or a_path
        path = b.rename_to or b_path
    elif b.copy_from is not None or b.copy_to is not None:
        status, old_path = "copy", b.copy_from or a_path
        path = b.copy_to or b_path
    elif b.new_file or minus == "/dev/null":
        status, old_path, path = "add", None, b_path
    elif b.deleted or plus == "/dev/null":
        status, old_path, path = "delete", None, a_path
    elif b.mode_change and not b.hunks and not b.binary:
        status, old_path, path = "mode", None, b_path or a_path
    else:
        if not b.hunks and not b.binary:
            return None  # a `diff --git` header with nothing under it (an unchanged file)
        status, old_path, path = "modify", None, b_path or a_path
    if not path:
        raise ChangeError(f"line {b.start + 1}: a file change without a file name")
    text = "\n".join(lines[b.start:b.end]) + "\n"
    return FilePatch(path=path, old_path=old_path, status=status, binary=b.binary, hunks=b.hunks, text=text,
                     ext_headers=list(b.ext), binary_lines=list(b.binary_lines))


# ------------------------------------------------------------------------------- targets

@dataclass
class Target:
    path: str
    repo: str  # "" for the platform repo, else the submodule path
    repo_path: str
    exists: bool
    base_blob: str | None
    # The file's part of the patch (for hunk-level impact); not part of the hash or of equality.
    file: FilePatch | None = field(default=None, repr=False, compare=False)


def git_blob_hash(content: bytes) -> str:
    """What `git hash-object` prints for these bytes (sha1 of the blob header and content)."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def unsafe_path_reason(path: str) -> str | None:
    """Why a patch path may not be used as a platform-relative path, or None when it may (lexically)."""
    if not path:
        return "is empty"
    if "\0" in path:
        return "contains a NUL byte"
    if path.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:[\\/]", path) or path.startswith("~"):
        return "is absolute"
    parts = re.split(r"[\\/]", path)
    if ".." in parts:
        return "has a '..' component"
    if any(p in ("", ".") for p in parts):
        return "is not a normalised relative path"
    if parts[0] == ".git" or "\\" in path:
        return "is not a plain repository path"
    return None


def _confined(root: Path, rel: str) -> tuple[Path, str | None]:
    """(absolute path, reason) walking each component with lstat: a symlink leaving the root is refused
    before anything under it is read."""
    real_root = root.resolve()
    current = real_root
    parts = rel.split("/")
    for index, part in enumerate(parts):
        current = current / part
        if not os.path.lexists(current):
            break
        if current.is_symlink():
            resolved = current.resolve()
            if resolved != real_root and real_root not in resolved.parents:
                return current, f"goes through the symlink {'/'.join(parts[:index + 1])} that leaves the platform"
            if index < len(parts) - 1:
                return current, f"goes through the symlink {'/'.join(parts[:index + 1])} (git apply refuses it)"
    return current, None


def confinement_reason(root: Path, path: str) -> str | None:
    """Why `path` leaves `root` (lexically or through a symlink), or None. Only lstat is used, nothing is read."""
    return unsafe_path_reason(path) or _confined(Path(root), path)[1]


def check_path(root: Path, path: str) -> None:
    """Raise ChangeError when `path` is absolute, climbs with '..', or leaves `root` through a symlink."""
    reason = unsafe_path_reason(path)
    if reason is None:
        _, reason = _confined(Path(root), path)
    if reason:
        raise ChangeError(f"patch path {path!r} {reason}", "use paths relative to the platform root, inside it")


def repo_of(path: str, submodules: list[str]) -> tuple[str, str]:
    """(repo, path inside it): the longest submodule path containing `path`, else the platform ("")."""
    best = ""
    for sub in submodules:
        sub = sub.strip("/")
        if sub and path.startswith(sub + "/") and len(sub) > len(best):
            best = sub
    return (best, path[len(best) + 1:]) if best else ("", path)


def resolve_targets(root: Path, patch: Patch, submodules: list[str],
                    bases: dict[str, str] | None = None) -> list[Target]:
    """Each file of the patch (and a rename's source) located in its repository, with its blob in that
    repository's base commit (`bases[repo]`, default its HEAD): what is committed, never the work tree's
    bytes. Paths that leave the platform (lexically, or through a symlink on disk: lstat only) are refused."""
    from sources.git import resolve_commit, tree_entry

    root = Path(root)
    out: list[Target] = []
    seen: set[str] = set()
    heads: dict[str, str | None] = dict(bases or {})
    for fp in patch.files:
        for path in ([fp.old_path] if fp.old_path else []) + [fp.path]:
            if path in seen:
                continue
            seen.add(path)
            check_path(root, path)
            if path in submodules:
                raise ChangeError(f"{path} is a submodule pointer", "a patch changes files, not gitlinks")
            repo, repo_path = repo_of(path, submodules)
            if repo not in heads:
                heads[repo] = resolve_commit(root / repo, "HEAD") if (root / repo / ".git").exists() else None
            entry = tree_entry(root / repo, heads[repo], repo_path) if heads[repo] else None
            if entry is not None and entry[1] == "tree":
                raise ChangeError(f"patch path {path!r} is a directory", "a patch changes files, not folders")
            out.append(Target(path=path, repo=repo, repo_path=repo_path, exists=entry is not None,
                              base_blob=entry[2] if entry else None, file=fp if path == fp.path else None))
    return out


def content_hash(diff_text: str, meta: dict, targets: list[Target]) -> str:
    """sha256 of what Product approves: the diff, the metadata and each target's base content."""
    canonical = json.dumps(
        {"v": 1, "diff": diff_text.replace("\r\n", "\n"), "meta": meta,
         "targets": [[t.path, t.base_blob] for t in targets]},
        sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# ------------------------------------------------------------------------------- per repo

def _render(fp: FilePatch, path: str, old_path: str | None) -> str:
    """One file's diff with `a/`/`b/` paths relative to its repository (for git apply -p1)."""
    a = old_path or path
    out = [f"diff --git {_quote('a/' + a)} {_quote('b/' + path)}"]
    for line in fp.ext_headers:
        if line.startswith("rename from "):
            line = "rename from " + _quote(a)
        elif line.startswith("rename to "):
            line = "rename to " + _quote(path)
        elif line.startswith("copy from "):
            line = "copy from " + _quote(a)
        elif line.startswith("copy to "):
            line = "copy to " + _quote(path)
        elif line.startswith("Binary files "):
            line = f"Binary files {'/dev/null' if fp.status == 'add' else 'a/' + a} and " \
                   f"{'/dev/null' if fp.status == 'delete' else 'b/' + path} differ"
        out.append(line)
    if fp.status == "add" and not any(l.startswith("new file mode ") for l in fp.ext_headers):
        out.append("new file mode 100644")
    if fp.status == "delete" and not any(l.startswith("deleted file mode ") for l in fp.ext_headers):
        out.append("deleted file mode 100644")
    if fp.hunks:
        minus = "/dev/null" if fp.status == "add" else _quote("a/" + a)
        plus = "/dev/null" if fp.status == "delete" else _quote("b/" + path)
        out += [f"--- {minus}" + ("\t" if " " in minus else ""), f"+++ {plus}" + ("\t" if " " in plus else "")]
        for hunk in fp.hunks:
            out.append(hunk.header())
            out += hunk.lines
    out += fp.binary_lines
    return "\n".join(out) + "\n"


def split_by_repo(patch: Patch, targets: list[Target]) -> dict[str, str]:
    """{repo: diff} with paths relative to each repository's root ("" = the platform repo)."""
    by_path = {t.path: t for t in targets}
    out: dict[str, list[str]] = {}
    for fp in patch.files:
        target = by_path.get(fp.path)
        if target is None:
            raise ChangeError(f"{fp.path}: no resolved target", "resolve the patch's targets first")
        old_inner = None
        if fp.old_path:
            old = by_path.get(fp.old_path)
            if old is None or old.repo != target.repo:
                raise ChangeError(f"{fp.path}: renamed or copied from {fp.old_path} in another repository",
                                  "propose an addition and a separate change instead")
            old_inner = old.repo_path
        out.setdefault(target.repo, []).append(_render(fp, target.repo_path, old_inner))
    return {repo: "".join(parts) for repo, parts in out.items()}


# ------------------------------------------------------------------------------- impact

def _under(path: str, folder: str | None) -> bool:
    if folder is None:
        return False
    folder = folder.rstrip("/")
    return folder in ("", ".") or path == folder or path.startswith(folder + "/")


_SERVICES_KEY = re.compile(r"^services\s*:\s*(#.*)?$")
_TOP_KEY = re.compile(r"^[^\s#][^:]*:")
_CHILD_KEY = re.compile(r"^(\s+)([A-Za-z0-9_.\-\"']+)\s*:")


def compose_service_blocks(text: str) -> tuple[dict[str, tuple[int, int]], tuple[int, int] | None]:
    """({service: (first line, last line)}, the services section's range), 1-based, from the YAML text."""
    lines = text.split("\n")
    blocks: dict[str, tuple[int, int]] = {}
    section: tuple[int, int] | None = None
    start = None
    indent = None
    current: tuple[str, int] | None = None
    for number, line in enumerate(lines, 1):
        if start is None:
            if _SERVICES_KEY.match(line):
                start = number
            continue
        if _TOP_KEY.match(line):
            section = (start, number - 1)
            break
        m = _CHILD_KEY.match(line)
        if m and (indent is None or len(m.group(1)) <= indent):
            indent = len(m.group(1))
            if current:
                blocks[current[0]] = (current[1], number - 1)
            current = (m.group(2).strip("\"'"), number)
    else:
        if start is not None:
            section = (start, len(lines))
    if current:
        blocks[current[0]] = (current[1], (section or (0, len(lines)))[1])
    # A block's trailing blank and comment lines belong to whatever follows.
    for name, (first, last) in list(blocks.items()):
        while last > first and (not lines[last - 1].strip() or lines[last - 1].lstrip().startswith("#")):
            last -= 1
        blocks[name] = (first, last)
    return blocks, section


def _compose_touched(platform, fp: FilePatch, services_in_file: set[str]) -> set[str]:
    """Services of one compose file whose blocks the hunks touch; all of them when unsure."""
    path = Path(platform.root) / fp.path
    if fp.status != "modify" or not path.is_file():
        names = set(services_in_file)
        if fp.status == "add":
            blocks, _ = compose_service_blocks("\n".join(fp.added_lines))
            names |= set(blocks)
        return names
    blocks, section = compose_service_blocks(path.read_text(encoding="utf-8", errors="replace"))
    if not blocks or section is None:
        return set(services_in_file)
    indent = None
    text_lines = path.read_text(encoding="utf-8", errors="replace").split("\n")
    for first, _ in blocks.values():
        m = _CHILD_KEY.match(text_lines[first - 1])
        indent = len(m.group(1)) if m else indent
    out: set[str] = set()
    for hunk in fp.hunks:
        changed = [l for l in hunk.lines if l[:1] in "+-"]
        if all(not l[1:].strip() or l[1:].lstrip().startswith("#") for l in changed):
            continue  # comments and blank lines change no service
        for line in changed:
            m = _CHILD_KEY.match(line[1:])
            if m and indent is not None and len(m.group(1)) == indent:
                out.add(m.group(2).strip("\"'"))  # a service added, renamed or removed
        for old_line in hunk.touched_old_lines():
            owner = next((name for name, (first, last) in blocks.items() if first <= old_line <= last), None)
            if owner is None and old_line and any(first == old_line + 1 for first, _ in blocks.values()):
                continue  # inserted right before a service key: a new sibling, counted above
            if owner is not None:
                out.add(owner)
            elif section and section[0] <= old_line <= section[1]:
                # Between two services: an append to the previous one, unless it is a new key at service level.
                prev = [name for name, (first, last) in blocks.items() if last <= old_line]
                if prev and not any(_CHILD_KEY.match(l[1:]) and len(_CHILD_KEY.match(l[1:]).group(1)) == indent
                                    for l in changed if l.startswith("+")):
                    out.add(max(prev, key=lambda name: blocks[name][1]))
            else:
                return set(services_in_file) | out  # top-level volumes/networks/x- keys: every service
    return out


def impacted_services(platform, targets: list[Target], patch: Patch | None = None) -> list[str]:
    """Compose services whose build, mounted files, env files, nginx config or definition a target touches.

    A compose file's hunks come from `target.file` (set by resolve_targets) or `patch`; without either,
    every service the file defines counts."""
    by_path = {f.path: f for f in patch.files} if patch else {}
    paths = {t.path for t in targets}
    out: set[str] = set()
    envs = list(platform.environments.values())
    for env in envs:
        missing = {}
        if env.project is not None:
            for m in env.project.missing_env_files:
                missing.setdefault(m.service, []).append(m.path)
        for name, svc in env.services.items():
            image = platform.service_image(env, name)
            folders: list[str] = []
            files: list[str] = []
            build = svc.get("build")
            if isinstance(build, dict) and build.get("context"):
                ctx = platform.rel(str(build["context"]))
                if ctx is not None:
                    folders.append(ctx)
            if image.dockerfile:
                files.append(image.dockerfile)
                folders.append(posixpath.dirname(image.dockerfile))
                files.append(posixpath.join(posixpath.dirname(image.dockerfile), ".dockerignore"))
            for built in image.ci_images:
                files.append(built.location.path)
            for vol in svc.get("volumes") or []:
                if vol.get("type") == "bind":
                    rel = platform.rel(str(vol.get("source", "")))
                    if rel:
                        folders.append(rel)
            for entry in (svc.get("env_file") or []) + [{"path": p} for p in missing.get(name, [])]:
                raw = entry.get("path") if isinstance(entry, dict) else entry
                rel = platform.rel(str(raw)) if raw else None
                if rel:
                    files.append(rel)
            files += _raw_env_files(env, name)
            files += platform.nginx_files_for(env, name)
            if any(p in files or any(_under(p, f) for f in folders if f not in ("", ".")) for p in paths):
                out.add(name)
    for target in targets:
        fp = target.file or by_path.get(target.path)
        for env in envs:
            if target.path in env.files:
                in_file = _services_defined(platform, target.path, env)
                out |= _compose_touched(platform, fp, in_file) if fp else in_file
        if "/.github/workflows/" in "/" + target.path and target.repo:
            for env in envs:
                for name in env.services:
                    dockerfile = platform.service_image(env, name).dockerfile or ""
                    if dockerfile.startswith(target.repo + "/"):
                        out.add(name)
    return sorted(out)


def _raw_env_files(env, service: str) -> list[str]:
    """env_file entries as the compose files write them (the merged model drops files it cannot read)."""
    out: list[str] = []
    for raw_path, data, _ in (env.project.raw_files if env.project is not None else []):
        svc = ((data or {}).get("services") or {}).get(service) or {}
        entries = svc.get("env_file") or []
        for entry in [entries] if isinstance(entries, (str, dict)) else entries:
            value = entry.get("path") if isinstance(entry, dict) else entry
            if isinstance(value, str) and value:
                base = posixpath.dirname(Path(raw_path).as_posix()) if not os.path.isabs(raw_path) else ""
                out.append(posixpath.normpath(posixpath.join(base, value)))
    return out


def _services_defined(platform, rel: str, env) -> set[str]:
    path = Path(platform.root) / rel
    if path.is_file():
        blocks, _ = compose_service_blocks(path.read_text(encoding="utf-8", errors="replace"))
        if blocks:
            return set(blocks)
    return set(env.services)


# ------------------------------------------------------------------------------- bounded inputs

META_FIELDS = ("reason", "risk", "rollback", "type", "scope", "intention", "summary")
COMMIT_TYPES = ("build", "chore", "ci", "docs", "feat", "fix", "perf", "refactor", "revert", "style", "test")
_SCOPE = re.compile(r"[a-z0-9][a-z0-9._/-]{0,39}")
_INTENTION = re.compile(r"[A-Za-z][A-Za-z0-9]{0,15}-[0-9]{1,9}")  # INT-13 (Notion's unique id), row-3 (export)
_PROPOSAL_ID = re.compile(r"p-[0-9]{8}-[0-9a-f]{6}")
_TRAILER_START = re.compile(r"^\s*[A-Za-z][A-Za-z0-9]*(-[A-Za-z0-9]+)+\s*:")  # Approved-by:, Signed-off-by:
MAX_FIELD = 500


def _show(value: str) -> str:
    return ascii(value[:40])[1:-1]


def check_metadata(meta: dict) -> None:
    """Raise ChangeError (one line) unless every metadata field is one bounded line: no control character, a
    known `type`, a strict `scope` and intention id, nothing that starts a git trailer, at most 500 characters.
    Emptiness is the policy's business (POL001), not an input error."""
    if not isinstance(meta, dict):
        raise ChangeError("proposal metadata must be a mapping of fields")
    unknown = sorted(str(k) for k in meta if k not in META_FIELDS)
    if unknown:
        raise ChangeError(f"unknown metadata field {_show(unknown[0])}", f"use only {', '.join(META_FIELDS)}")
    for key in META_FIELDS:
        value = meta.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise ChangeError(f"--{key} must be text, not {type(value).__name__}")
        # No control, format, private-use or default-ignorable character (agent.core.text.is_hidden): none has a
        # place in one line of metadata a terminal or a commit shows.
        at = first_hidden(value)
        if at is not None:
            bad = value[at]
            what = "a newline" if bad in "\n\r\u2028\u2029" else f"the control character U+{ord(bad):04X}"
            raise ChangeError(f"--{key} contains {what} (at character {at + 1})",
                              f"give --{key} as one line of plain text")
        if len(value) > MAX_FIELD:
            raise ChangeError(f"--{key} is {len(value)} characters, over the {MAX_FIELD}-character cap",
                              "say it in one sentence; details go in the deployment notes")
        if _TRAILER_START.match(value):
            raise ChangeError(f"--{key} starts like a git trailer ({_show(value)})",
                              "start it with words, not 'Key-name:' (the gate writes the trailers itself)")
    kind = meta.get("type")
    if kind is not None and kind not in COMMIT_TYPES:
        raise ChangeError(f"--type {_show(kind)} is not a commit type", f"use one of {', '.join(COMMIT_TYPES)}")
    scope = meta.get("scope")
    if scope not in (None, "") and not _SCOPE.fullmatch(scope):
        raise ChangeError(f"--scope {_show(scope)} is not a scope",
                          "use lowercase letters, digits and . _ / - (up to 40), e.g. compose, ci, nginx")
    intention = meta.get("intention")
    if intention not in (None, "") and not _INTENTION.fullmatch(intention):
        raise ChangeError(f"--intention {_show(intention)} is not an intention id",
                          "give the intention's id as Notion shows it, e.g. INT-13")


def check_proposal_id(pid: str) -> None:
    """Raise ChangeError unless `pid` has the shape the gate gives ids (p-YYYYMMDD-xxxxxx)."""
    if not isinstance(pid, str) or not _PROPOSAL_ID.fullmatch(pid):
        raise ChangeError(f"{_show(str(pid))} is not a proposal id",
                          "ids look like p-20250101-a1b2c3; list them with `devops-agent proposals`")


# ------------------------------------------------------------------------------- cross-check with git

_NUMSTAT = re.compile(r"^(\d+|-)\t(\d+|-)\t(.*)$", re.S)


def _git_numstat(repo_dir: Path, text: str) -> tuple[list[tuple[str, tuple[int, int] | None]], list[str]]:
    """What `git apply --numstat -z --summary` says it would do with `text`: [(path, (added, removed) or None for
    a binary file)] in patch order, and the summary lines (create/delete/mode/rename/copy)."""
    from sources.git import GitError, run_git

    try:
        out = run_git(["apply", "--numstat", "--summary", "-z", "-"], Path(repo_dir), input_text=text)
    except GitError as exc:
        raise ChangeError(f"git cannot read the patch ({exc}); nothing was recorded",
                          "regenerate the patch with git diff") from exc
    fields = out.split("\0")
    files: list[tuple[str, tuple[int, int] | None]] = []
    summary: list[str] = []
    i = 0
    while i < len(fields):
        item = fields[i]
        m = _NUMSTAT.match(item)
        if m:
            counts = None if "-" in (m.group(1), m.group(2)) else (int(m.group(1)), int(m.group(2)))
            path = m.group(3)
            if path == "" and i + 2 < len(fields):  # a rename: empty name, then old NUL new
                path = fields[i + 2]
                i += 2
            files.append((path, counts))
        elif item.strip():
            summary += [l.strip() for l in item.split("\n") if l.strip()]  # --summary lines trail, one per line
        i += 1
    return files, summary


def _counts(fp: FilePatch) -> tuple[int, int] | None:
    return None if fp.binary else (len(fp.added_lines), len(fp.removed_lines))


def _mode_of(fp: FilePatch, prefix: str) -> str | None:
    line = next((l for l in fp.ext_headers if l.startswith(prefix)), None)
    return line[len(prefix):].strip() if line else None


def _summary_lines(fp: FilePatch) -> list[str]:
    if fp.status == "add":
        return [f"create mode {_mode_of(fp, 'new file mode ') or '100644'} {fp.path}"]
    if fp.status == "delete":
        return [f"delete mode {_mode_of(fp, 'deleted file mode ') or '100644'} {fp.path}"]
    out = []
    if fp.status in ("rename", "copy"):
        out.append(f"{fp.status} {fp.old_path} => {fp.path}")
    old_mode, new_mode = _mode_of(fp, "old mode "), _mode_of(fp, "new mode ")
    if old_mode and new_mode and old_mode != new_mode:
        out.append(f"mode change {old_mode} => {new_mode} {fp.path}")
    return out


def _normalise_summary(line: str) -> str:
    """git writes renames with a shared-prefix brace form (`rename d/{a => b} (90%)`): expand it, drop the score."""
    line = re.sub(r"\s*\(\d+%\)$", "", line.strip())
    m = re.match(r"^(rename|copy) (.*)\{(.*) => (.*)\}(.*)$", line)
    if m:
        kind, pre, a, b, post = m.groups()
        return f"{kind} {(pre + a + post).replace('//', '/')} => {(pre + b + post).replace('//', '/')}"
    return line


def _disagree(what: str) -> ChangeError:
    return ChangeError(f"the patch parser and git disagree on {what}; nothing was recorded",
                       "regenerate the patch with git diff")


def _say(counts: tuple[int, int] | None) -> str:
    return "a binary change" if counts is None else f"+{counts[0]} -{counts[1]} lines"


def crosscheck(patch: Patch, repo_dir: Path, text: str) -> None:
    """Raise ChangeError unless git reads the patch exactly as our parser does (`git apply --numstat -z
    --summary`, which parses without touching a file).

    Two readings are compared. `patch.text`, the text Product is shown and the content hash covers, must hold
    for git the same files with the same added/removed counts as `patch.files`: a `-- ` line (git
    format-patch's signature separator) followed by more diff is the known case where they part, everything
    after it shown and hashed but not applied. `text`, the diff of one repository as `split_by_repo` renders it
    (what `git apply` will run on in `repo_dir`), must hold for git exactly the files, counts and
    create/delete/mode/rename lines our parser reads in it."""
    shown, _ = _git_numstat(repo_dir, patch.text)
    if len(shown) != len(patch.files):
        raise _disagree(f"how many files the patch changes (we read {len(patch.files)}, git reads {len(shown)}: "
                        f"a '-- ' line or text after the last hunk?)")
    for fp, (path, counts) in zip(patch.files, shown):
        if _counts(fp) != counts:
            raise _disagree(f"{_show(fp.path)}: we read {_say(_counts(fp))}, git reads {_say(counts)}")
    ours = parse_patch(text)
    files, summary = _git_numstat(repo_dir, text)
    if [f.path for f in ours.files] != [p for p, _ in files]:
        mine, theirs = [f.path for f in ours.files], [p for p, _ in files]
        odd = next((a for a, b in zip(mine, theirs) if a != b), None) or (set(mine) ^ set(theirs) or {"?"}).pop()
        raise _disagree(f"which files change (first difference: {_show(odd)})")
    for fp, (path, counts) in zip(ours.files, files):
        if _counts(fp) != counts:
            raise _disagree(f"{_show(path)}: we read {_say(_counts(fp))}, git would apply {_say(counts)}")
    for path, counts in files:  # what git will apply in this repo is what the platform patch says
        owner = [fp for fp in patch.files if fp.path == path or fp.path.endswith("/" + path)]
        if not any(_counts(fp) == counts for fp in owner):
            raise _disagree(f"{_show(path)}: the repository's diff gives {_say(counts)}, the proposal "
                            f"{_say(_counts(owner[0])) if owner else 'does not change it'}")
    mine = sorted(_normalise_summary(l) for fp in ours.files for l in _summary_lines(fp))
    theirs = sorted(_normalise_summary(l) for l in summary)
    if mine != theirs:
        odd = sorted(set(mine) ^ set(theirs)) or mine or theirs
        raise _disagree(f"{_show(odd[0])} (file creation, deletion, mode or rename)")
