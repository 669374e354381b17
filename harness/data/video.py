"""Video clips as ground truth: every evaluated frame is a sample, the frames of a clip one group.

`path` is a clip file or a frame folder (a folder of JPEG/PNG frames, as DAVIS's
`JPEGImages/480p/<clip>/`), or a folder searched recursively for clip files (mp4, mkv, avi,
mov, webm) and frame folders (a DAVIS root is read from its `JPEGImages/480p`). Each clip contributes frames 0, stride,
2·stride, ... up to `max_frames` of them; `limit` draws that many clips with `seed` from
the sorted clip ids. Sample ids are `<clip>#<frame, 6 digits>`; every sample carries its
clip (its `group`), its frame number and its position in the clip's evaluated sequence.

A clip file is probed when the dataset is built (its packets counted, nothing decoded); a
clip that cannot be read at all is one `failed:<reason>` row (frame 0), and a clip whose
packets stop early (truncated, unreadable from some frame) keeps its frames before the
damage plus one `failed:` row at the frame where it stops. The run goes on either way.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from harness.data.base import Dataset, Sample, file_identity, select
from harness.data.images import check_pixels, decode_rgb
from harness.data.sample_data import provide, sample_kind
from harness.data.video_decode import VIDEO_SUFFIXES, ClipReader, probe
from harness.errors import HarnessError, ImageError

FRAME_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
#: The frame rate assumed for frame folders (DAVIS is 24 fps); it only times side-by-side previews.
FOLDER_FPS = 24.0


def sample_id(clip: str, frame: int) -> str:
    return f"{clip}#{frame:06d}"


def _hidden(rel: Path) -> bool:
    return any(part.startswith(".") for part in rel.parts)


def find_clips(path: Path) -> dict[str, Path]:
    """clip id -> clip file or frame folder under `path` (see the module docstring)."""
    if _is_entry(path) or (path.is_dir() and _frame_files(path)):  # one clip: a file, or a frame folder
        return {path.name: path}
    root = path / "JPEGImages" / "480p" if (path / "JPEGImages" / "480p").is_dir() else path
    clips: dict[str, Path] = {}
    for entry in sorted(root.rglob("*")):
        rel = entry.relative_to(root)
        if _hidden(rel):
            continue
        if _is_entry(entry) and entry.suffix.lower() in VIDEO_SUFFIXES:
            clips[rel.as_posix()] = entry
        elif entry.is_dir() and _frame_files(entry):
            clips[rel.as_posix()] = entry
    return clips


def _is_entry(path: Path) -> bool:
    """A file, or a FIFO/device/socket (kept, to become a `failed:not_a_file` row, never silently left out)."""
    return path.is_file() or (path.exists() and not path.is_dir())


def _frame_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if _is_entry(p) and not p.name.startswith(".")
                  and p.suffix.lower() in FRAME_SUFFIXES)


def _failing(error: ImageError):
    def load():
        raise error

    return load


def _identity(clip: Path, root: Path) -> list:
    """What identifies a clip's content: the file's path, size and mtime, or a digest of its frames'."""
    if not clip.is_dir():
        return file_identity(clip, root)
    digest = hashlib.sha256()
    for frame in _frame_files(clip):
        digest.update(repr(file_identity(frame, root)).encode())
    return [clip.relative_to(root).as_posix(), digest.hexdigest()]


def _clip_samples(clip: str, path: Path, max_frames: int | None, stride: int) -> tuple[list[Sample], float | None]:
    """The samples of one clip (see the module docstring) and its frame rate."""
    need = None if max_frames is None else (max_frames - 1) * stride + 1
    damage = None
    if path.is_dir():
        files = _frame_files(path)
        available, fps = len(files), FOLDER_FPS
        load = lambda n: decode_rgb(files[n])  # noqa: E731
    else:
        try:
            info = probe(path, need)
        except ImageError as exc:
            return [Sample(id=sample_id(clip, 0), loader=_failing(exc), path=str(path),
                           meta={"clip": clip, "frame": 0, "index": 0}, group=clip)], None
        try:
            check_pixels(info.width, info.height, f"{path}'s frames")  # from the header, before decoding
        except ImageError as exc:
            return [Sample(id=sample_id(clip, 0), loader=_failing(exc), path=str(path),
                           meta={"clip": clip, "frame": 0, "index": 0}, group=clip)], None
        available, fps, damage = info.frames, info.fps, info.damage
        load = None
    frames = list(range(0, available, stride))[:max_frames]
    if load is None:
        reader = ClipReader(path, frames)
        load = reader.frame
    where = (lambda n: str(files[n])) if path.is_dir() else (lambda n: str(path))  # noqa: E731 - a frame's file
    samples = [Sample(id=sample_id(clip, n), loader=(lambda n=n: load(n)), path=where(n),
                      meta={"clip": clip, "frame": n, "index": i}, group=clip) for i, n in enumerate(frames)]
    if damage is not None and (need is None or damage[0] < need):
        at, reason, detail = damage
        samples.append(Sample(id=sample_id(clip, at), loader=_failing(ImageError(reason, detail)), path=str(path),
                              meta={"clip": clip, "frame": at, "index": len(samples)}, group=clip))
    return samples, fps


def choose_path(paths: Path | list[Path], write_sample: bool = True) -> tuple[Path, int]:
    """The first of the spec's candidate paths that exists, and its position; else the harness's own
    sample clip when a candidate names it (written on first use; only chosen when `write_sample` is False)."""
    candidates = [Path(p).expanduser() for p in (paths if isinstance(paths, list) else [paths])]
    for position, path in enumerate(candidates):
        if path.exists():
            return path, position
    for position, path in enumerate(candidates):
        if sample_kind(path) == "video":
            if write_sample:
                provide(path)
            return path, position
    listed = ", ".join(f"'{p}'" for p in candidates)
    raise HarnessError(f"Video path {listed} does not exist." if len(candidates) == 1 else
                       f"None of the video candidates {listed} exists (relative paths start at the working "
                       f"directory, here {Path.cwd()}).",
                       hint="Fix dataset.path in the spec: a clip, or a folder of clips or frame folders; or add "
                            "the harness's own sample clip, data/sample/video, as the last candidate.")


def build(spec_dataset) -> Dataset:
    """The frames of the selected clips (see the module docstring)."""
    from harness.data.video_report import VideoReporter

    path, position = choose_path(spec_dataset.path)
    clips = find_clips(path)
    if not clips:
        raise HarnessError(f"No video clips under '{path}'.",
                           hint=f"Put clips ({', '.join(VIDEO_SUFFIXES)}) or folders of frames "
                                f"(JPEG/PNG, e.g. DAVIS JPEGImages/480p/<clip>/00000.jpg) there.")
    single = _is_entry(path) or (len(clips) == 1 and clips.get(path.name) == path)
    root = path.parent if single else path
    chosen = select(list(clips), spec_dataset.limit, spec_dataset.seed)
    samples: list[Sample] = []
    groups: dict[str, list[Sample]] = {}
    rates: dict[str, float | None] = {}
    for clip in chosen:
        groups[clip], rates[clip] = _clip_samples(clip, clips[clip], spec_dataset.max_frames, spec_dataset.stride)
        samples.extend(groups[clip])
    info = {"source": "video", "path": str(path.resolve()), "limit": spec_dataset.limit, "seed": spec_dataset.seed,
            "max_frames": spec_dataset.max_frames, "stride": spec_dataset.stride, "clips": len(chosen),
            "size": len(samples)}
    if isinstance(spec_dataset.path, list) and len(spec_dataset.path) > 1:
        info["candidate"] = f"{position + 1} of {len(spec_dataset.path)}"
    items = [[_identity(clips[c], root) for c in chosen], spec_dataset.max_frames, spec_dataset.stride]
    name = path.resolve().stem if _is_entry(path) else path.resolve().name
    return Dataset(name=name, source="video", samples=samples, info=info, fingerprint_items=items,
                   reporter=VideoReporter(groups, rates, preview_frames=spec_dataset.preview_frames))
