"""Unpacking archives safely: every member's final place is checked, links included, before anything is written.

A member is refused when its name is absolute or has a '..' component, when the folder it goes
into resolves outside the destination (through a link the archive made earlier, such as
`p -> .` then `p/q -> ..`, or a link already on disk), when it is a link whose target resolves
outside, or when it is a device, FIFO or other special file. Resolution follows the links the
way the file system will once they exist, so a chain of links that are each harmless on their
own cannot carry a later member out. The error names the archive and the member; nothing is
extracted then.
"""

from __future__ import annotations

import os
import re
import stat
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from harness.errors import HarnessError

_MAX_LINKS = 40  # links followed for one path, as the kernel's ELOOP limit


@dataclass
class _Entry:
    name: str
    kind: str  # file, dir, symlink, hardlink, special
    target: str = ""


class _Unsafe(Exception):
    pass


def _unsafe(archive: Path, name: str, dest: Path, why: str) -> HarnessError:
    return HarnessError(f"Archive '{archive}': entry '{name}' {why}; refusing to extract anything into {dest}.",
                        hint="The archive is unsafe or damaged: delete it and download it again.")


def _parts(name: str) -> list[str]:
    return [p for p in PurePosixPath(name.replace("\\", "/")).parts if p not in ("", ".")]


class _Resolver:
    """Where a path under `dest` really is once the archive's links (and those on disk) exist."""

    def __init__(self, dest: Path):
        self.dest = dest
        self.links: dict[str, str] = {}  # member path (relative, posix) -> symlink target

    def _link_at(self, path: Path) -> tuple[str, bool] | None:
        """(target, made by the archive) of a link at `path`, or None."""
        if path.is_relative_to(self.dest):
            key = path.relative_to(self.dest).as_posix()
            if key in self.links:
                return self.links[key], True
        return (os.readlink(path), False) if path.is_symlink() else None

    def follow(self, start: Path, name: str, budget: list[int], last: bool = True) -> Path:
        """`start / name` with every link followed (the last component's too when `last`)."""
        current = start
        parts = _parts(name)
        for position, part in enumerate(parts):
            if part == "..":
                current = current.parent
                continue
            candidate = current / part
            link = self._link_at(candidate) if (last or position < len(parts) - 1) else None
            if link is None:
                current = candidate
                continue
            budget[0] -= 1
            if budget[0] < 0:
                raise _Unsafe("goes through too many links (a loop?)")
            target, from_archive = link
            if target.startswith("/") or re.match(r"^[A-Za-z]:", target):
                if from_archive:
                    raise _Unsafe(f"goes through a link to the absolute path '{target}'")
                current = self.follow(Path("/"), target, budget)  # a link on disk: where it really leads
                continue
            current = self.follow(current, target, budget)
        return current

    def inside(self, path: Path) -> bool:
        return path == self.dest or path.is_relative_to(self.dest)


def _check(archive: Path, dest: Path, entries: list[_Entry], *, links_on_disk: bool) -> None:
    """Refuse the archive at its first unsafe entry (see the module docstring)."""
    resolver = _Resolver(dest)
    for entry in entries:
        name = entry.name.replace("\\", "/")
        pure = PurePosixPath(name)
        if pure.is_absolute() or (pure.parts and re.match(r"^[A-Za-z]:", pure.parts[0])):
            raise _unsafe(archive, entry.name, dest, "has an absolute path")
        if ".." in pure.parts:
            raise _unsafe(archive, entry.name, dest, "contains a '..' component")
        if entry.kind == "special":
            raise _unsafe(archive, entry.name, dest, "is a device, FIFO or other special file")
        try:
            place = resolver.follow(dest, name, [_MAX_LINKS], last=entry.kind != "symlink")
            if not resolver.inside(place):
                raise _Unsafe("would be written outside the destination (through a link)")
            if entry.kind in ("symlink", "hardlink"):
                target = entry.target.replace("\\", "/")
                if target.startswith("/") or re.match(r"^[A-Za-z]:", target):
                    raise _Unsafe(f"links to the absolute path '{entry.target}'")
                base = place.parent if entry.kind == "symlink" else dest
                end = resolver.follow(base, target, [_MAX_LINKS])
                if not resolver.inside(end):
                    raise _Unsafe(f"links outside the destination (to '{entry.target}')")
        except _Unsafe as exc:
            raise _unsafe(archive, entry.name, dest, str(exc)) from None
        if entry.kind == "symlink" and links_on_disk:
            resolver.links[place.relative_to(dest).as_posix()] = entry.target.replace("\\", "/")  # where it lands


def _zip_entries(zf: zipfile.ZipFile) -> list[_Entry]:
    entries = []
    for info in zf.infolist():
        if stat.S_ISLNK(info.external_attr >> 16):
            entries.append(_Entry(info.filename, "symlink", zf.read(info).decode("utf-8", "replace")))
        else:
            entries.append(_Entry(info.filename, "dir" if info.is_dir() else "file"))
    return entries


def _tar_entries(tf: tarfile.TarFile) -> list[_Entry]:
    entries = []
    for m in tf.getmembers():
        kind = ("symlink" if m.issym() else "hardlink" if m.islnk() else "file" if m.isfile()
                else "dir" if m.isdir() else "special")
        entries.append(_Entry(m.name, kind, m.linkname))
    return entries


def safe_extract(archive: str | Path, dest: str | Path) -> list[Path]:
    """Extract a .zip, .tar or .tar.gz under `dest`; return the paths of the files written (not folders).

    Every entry is checked before anything is written (see the module docstring): an unsafe one
    is a `HarnessError` naming the archive and the entry, and nothing is extracted. (Zip
    symlinks are written as small files holding the target, as zipfile does.)
    """
    archive, dest = Path(archive), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    dest = dest.resolve()
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                entries = _zip_entries(zf)
                _check(archive, dest, entries, links_on_disk=False)
                zf.extractall(dest)
            return [dest / e.name for e in entries if e.kind != "dir"]
        if tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                entries = _tar_entries(tf)
                _check(archive, dest, entries, links_on_disk=True)
                if hasattr(tarfile, "data_filter"):
                    tf.extractall(dest, filter="data")  # a second line of defence where Python has it
                else:  # pragma: no cover - Python without PEP 706
                    tf.extractall(dest)
            return [dest / e.name for e in entries if e.kind != "dir"]
    except HarnessError:
        raise
    except (OSError, zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        raise HarnessError(f"Cannot extract archive '{archive}' into {dest}: {type(exc).__name__}: {exc}.",
                           hint="The archive is damaged or the disk is full: free space, delete the archive and "
                                "download it again.") from None
    raise HarnessError(f"'{archive}' is neither a zip nor a tar archive.",
                       hint="Delete it and download it again; it may be an HTML page or truncated.")
