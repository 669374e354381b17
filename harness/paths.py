"""Paths and URLs taken from data stay where they belong; files are read only when regular, written only by rename.

Every name that comes from data (an annotation's `file_name`, an archive member, a download's
target) is joined to its root with `contained`, which refuses an absolute name, a '..' component
and a name that resolves outside the root through a link already there. `is_under` is the one
check that an output folder is not an input folder (or inside one). `read_regular` opens without
blocking and refuses a FIFO, a device or a socket before reading a byte. `write_atomic` and
`replace_into` write to a fresh temporary file in the target's folder and rename it into place,
so a write never follows a symlink planted at the target (the link itself is replaced) and a
reader never sees half a file. `url_under` checks a URL against the hosts (bases) it may come from.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from harness.errors import HarnessError


class OutsideRoot(HarnessError):
    """A name that would leave its root; `reason` says how (callers word their own message with it)."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"'{name}' {reason}; refused.", hint="Names taken from data must stay inside their folder.")
        self.name, self.reason = name, reason


class NotRegular(OSError):
    """A path that is not a regular file (a FIFO, a device, a socket, a folder); `kind` names it."""

    def __init__(self, path: Path, kind: str):
        super().__init__(f"{path} is a {kind}, not a regular file")
        self.path, self.kind = path, kind


def escape_reason(root: Path, name: str) -> str | None:
    """Why `root / name` would not stay inside `root` (None when it does): absolute, a drive letter,
    a '..' component, or a folder on the way that is a link leading out. The last component may be
    a link (a folder of links to a shared store is a dataset; an output's link is replaced, not
    followed, by `replace_into`)."""
    pure = PurePosixPath(str(name).replace("\\", "/"))
    if pure.is_absolute() or (pure.parts and re.match(r"^[A-Za-z]:", pure.parts[0])):
        return "is an absolute path"
    if ".." in pure.parts:
        return "climbs out of its folder ('..')"
    if not str(name).strip():
        return "is empty"
    if not (Path(root) / pure).parent.resolve().is_relative_to(Path(root).resolve()):
        return f"leads outside {root} through a symbolic link"
    return None


def contained(root: Path, name: str) -> Path:
    """`root / name` when it stays inside `root`; `OutsideRoot` saying why it does not."""
    reason = escape_reason(root, name)
    if reason is not None:
        raise OutsideRoot(str(name), reason)
    return Path(root) / PurePosixPath(str(name).replace("\\", "/"))


def is_under(path: Path, folder: Path) -> bool:
    """Whether `path` is `folder` or inside it, both resolved (links followed)."""
    return Path(path).resolve().is_relative_to(Path(folder).resolve())


def file_kind(mode: int) -> str:
    for test, kind in ((stat.S_ISFIFO, "FIFO (named pipe)"), (stat.S_ISCHR, "character device"),
                       (stat.S_ISBLK, "block device"), (stat.S_ISSOCK, "socket"), (stat.S_ISDIR, "folder")):
        if test(mode):
            return kind
    return "special file"


def non_regular(path: Path) -> str | None:
    """What `path` is when it exists and is not a regular file (links followed), else None."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    return None if stat.S_ISREG(mode) else file_kind(mode)


def read_regular(path: Path) -> bytes:
    """The bytes of a regular file; `NotRegular` (before reading, without blocking) for anything else.
    Opened with O_NONBLOCK, so a FIFO with no writer never hangs the caller."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegular(Path(path), file_kind(mode))
        chunks = []
        while block := os.read(fd, 1 << 20):
            chunks.append(block)
        return b"".join(chunks)
    finally:
        os.close(fd)


def temp_beside(dest: Path) -> Path:
    """A new, empty file in `dest`'s folder (made with O_EXCL: never an existing file or link), with
    `dest`'s suffix so writers that pick a format by the name (PIL, FFmpeg) pick the same one."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{dest.stem}.", suffix=f".partial{dest.suffix}", dir=dest.parent)
    os.close(fd)
    return Path(name)


def replace_into(tmp: Path, dest: Path) -> Path:
    """Rename the finished `tmp` to `dest`: a link at `dest` is replaced, never followed."""
    os.replace(tmp, dest)
    return Path(dest)


def write_atomic(dest: Path, data: bytes) -> Path:
    """Write `data` to `dest` through a temporary file in its folder (see the module docstring)."""
    tmp = temp_beside(dest)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        return replace_into(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def inside_output(root: Path, rel: str | Path) -> Path:
    """Where an output named `rel` goes under the output folder `root`: `contained`, and its folder
    (made here) must resolve inside `root` too, so a linked subfolder cannot carry a write out."""
    dest = contained(root, Path(rel).as_posix())
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not dest.parent.resolve().is_relative_to(Path(root).resolve()):
        raise OutsideRoot(Path(rel).as_posix(), f"would be written outside {root} through a symbolic link")
    return dest


def url_under(url: str, bases: Iterable[str]) -> bool:
    """Whether `url` is under one of `bases`: the same scheme and host (and port), and a path inside
    the base's path."""
    got = urlsplit(url)
    for base in bases:
        want = urlsplit(base.rstrip("/"))
        if (got.scheme.lower(), (got.hostname or "").lower(), got.port) != \
                (want.scheme.lower(), (want.hostname or "").lower(), want.port):
            continue
        prefix = want.path.rstrip("/")
        if not prefix or got.path == prefix or got.path.startswith(prefix + "/"):
            return ".." not in PurePosixPath(got.path).parts
    return False


def refuse_output_in_inputs(out_dir: Path, inputs: Iterable[Path], *, flag: str = "--out") -> None:
    """`HarnessError` when the output folder is an input folder or inside one (writing among, and over,
    the originals; a second run would read its own outputs)."""
    for source in inputs:
        if Path(source).is_dir() and is_under(out_dir, source):
            raise HarnessError(f"{flag} {out_dir} is the input folder {source} or inside it: the outputs would be "
                               f"written among the originals (and over any of the same name).",
                               hint=f"Give a {flag} folder outside every input folder.")


def refuse_overwriting(source: Path, dest: Path) -> None:
    """`HarnessError` when writing `dest` would replace the input `source` itself."""
    if Path(dest).resolve() == Path(source).resolve():
        raise HarnessError(f"Writing '{dest}' would overwrite its input '{source}'.",
                           hint="Give another --out folder.")


def _name_key(path: Path) -> str:
    return path.as_posix().lower()  # a case-insensitive file system would merge A.png and a.png


def distinct_names(rels: Sequence[Path], suffixes: Sequence[str | None]) -> list[Path]:
    """Output names for inputs named `rels`, each with its suffix replaced by `suffixes[i]` (None: kept),
    never two alike: where several would share a name, those whose own suffix differs keep it
    (`img.jpg` -> `img.jpg.png` beside `img.png`), and any still alike get `~2`, `~3` in order."""
    wanted = [rel if suffix is None else rel.with_suffix(suffix) for rel, suffix in zip(rels, suffixes)]
    counts: dict[str, int] = defaultdict(int)
    for want in wanted:
        counts[_name_key(want)] += 1
    names: list[Path] = []
    used: set[str] = set()
    for rel, suffix, want in zip(rels, suffixes, wanted):
        name = want
        if counts[_name_key(want)] > 1 and suffix is not None and rel.suffix.lower() != suffix.lower():
            name = rel.with_name(rel.name + suffix)
        base, n = name, 1
        while _name_key(name) in used:
            n += 1
            name = base.with_name(f"{base.stem}~{n}{base.suffix}")
        used.add(_name_key(name))
        names.append(name)
    return names
