"""A study on disk: `harness-studies/<study id>/study.sqlite` beside the tracking store's database.

One SQLite file holds everything a study needs to survive restarts: its settings (`meta`), its
trials in their randomised order with the sides already drawn (`trials`), the JPEGs they show
(`images`) and every vote (`votes`, one row per rater and trial). The database runs in WAL mode with
`synchronous=FULL`, and each vote is its own committed transaction, so a killed server loses none.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError, did_you_mean

FOLDER = "harness-studies"
FILE = "study.sqlite"
CHOICES = ("left", "right", "tie")
TRUTH = "truth"  # the label of the real photo in a real-or-fake study
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS images (key TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS trials (id INTEGER PRIMARY KEY, position INTEGER NOT NULL, image_id TEXT NOT NULL,
    left TEXT NOT NULL, right TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS votes (id INTEGER PRIMARY KEY AUTOINCREMENT, rater TEXT NOT NULL,
    trial INTEGER NOT NULL REFERENCES trials(id), choice TEXT NOT NULL CHECK (choice IN ('left', 'right', 'tie')),
    at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')), UNIQUE (rater, trial));
"""


@dataclass(frozen=True)
class Trial:
    id: int
    position: int
    image_id: str
    left: str
    right: str


def studies_folder(tracking_uri: str | None) -> Path:
    """Where studies live: beside a local SQLite store's database, else in the working directory."""
    from harness.tracking.client import local_sqlite_path, resolve_tracking_uri

    db = local_sqlite_path(resolve_tracking_uri(tracking_uri))
    return (db.parent if db is not None else Path.cwd()) / FOLDER


def connect(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute("PRAGMA foreign_keys=ON")
    return con


class Study:
    """An open study: its settings, trials and images (read), its votes (read and written)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.path = folder / FILE
        with self.connection() as con:
            self.meta = {k: json.loads(v) for k, v in con.execute("SELECT key, value FROM meta")}
            self.trials = [Trial(*row) for row in
                           con.execute("SELECT id, position, image_id, left, right FROM trials ORDER BY position")]
        self.by_id = {t.id: t for t in self.trials}

    @property
    def id(self) -> str:
        return self.folder.name

    @property
    def kind(self) -> str:
        return self.meta["kind"]

    @property
    def cap(self) -> int:
        return int(self.meta.get("cap") or len(self.trials))

    @property
    def token(self) -> str:
        return self.meta["token"]

    @contextmanager
    def connection(self):
        con = connect(self.path)
        try:
            yield con
        finally:
            con.close()

    def image(self, key: str) -> bytes | None:
        with self.connection() as con:
            row = con.execute("SELECT data FROM images WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def votes(self) -> list[tuple[str, int, str]]:
        """(rater, trial id, choice) of every vote, in the order cast."""
        with self.connection() as con:
            return list(con.execute("SELECT rater, trial, choice FROM votes ORDER BY id"))

    def voted(self, rater: str) -> set[int]:
        with self.connection() as con:
            return {r[0] for r in con.execute("SELECT trial FROM votes WHERE rater = ?", (rater,))}

    def next_trial(self, rater: str) -> Trial | None:
        """The trial `rater` sees next: of those they have not judged, the one with the fewest votes so far,
        in the study's order (so votes spread evenly over trials); None when done or at the cap."""
        with self.connection() as con:
            counts = dict(con.execute("SELECT trial, COUNT(*) FROM votes GROUP BY trial"))
            mine = {r[0] for r in con.execute("SELECT trial FROM votes WHERE rater = ?", (rater,))}
        if len(mine) >= self.cap:
            return None
        left = [t for t in self.trials if t.id not in mine]
        return min(left, key=lambda t: (counts.get(t.id, 0), t.position)) if left else None

    def vote(self, rater: str, trial: int, choice: str) -> int:
        """Record a vote (committed before this returns) and return how many `rater` has cast; a
        HarnessError (its `status` 400/404/409) for a bad choice, an unknown trial, a repeat or the cap."""
        if choice not in CHOICES:
            raise VoteRefused(400, f"choice must be one of {', '.join(CHOICES)}, not {choice!r}.")
        if trial not in self.by_id:
            raise VoteRefused(404, f"this study has no trial {trial}.")
        with self.connection() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                done = con.execute("SELECT COUNT(*) FROM votes WHERE rater = ?", (rater,)).fetchone()[0]
                if done >= self.cap:
                    raise VoteRefused(409, f"rater {rater!r} has reached this study's cap of {self.cap} votes.")
                try:
                    con.execute("INSERT INTO votes (rater, trial, choice) VALUES (?, ?, ?)", (rater, trial, choice))
                except sqlite3.IntegrityError:
                    raise VoteRefused(409, f"rater {rater!r} has already judged trial {trial}.") from None
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return done + 1


class VoteRefused(HarnessError):
    """A vote or request the server refuses, with the HTTP status that says why."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def write_study(folder: Path, meta: dict, trials: list[Trial], images: dict[str, bytes]) -> Study:
    """Create the study's database (into a temporary name, renamed when complete)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    part = folder.with_name(f".{folder.name}.part")
    if part.exists():
        import shutil

        shutil.rmtree(part)
    part.mkdir()
    con = connect(part / FILE)
    try:
        con.executescript(SCHEMA)
        con.execute("BEGIN")
        con.executemany("INSERT INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in meta.items()])
        con.executemany("INSERT INTO images VALUES (?, ?)", list(images.items()))
        con.executemany("INSERT INTO trials VALUES (?, ?, ?, ?, ?)",
                        [(t.id, t.position, t.image_id, t.left, t.right) for t in trials])
        con.execute("COMMIT")
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()
    part.replace(folder)
    return Study(folder)


def open_study(study: str, tracking_uri: str | None = None) -> Study:
    """A study by its id (in the studies folder beside the store) or by its folder's path."""
    given = Path(study)
    folder = given if (given / FILE).is_file() else studies_folder(tracking_uri) / study
    if not (folder / FILE).is_file():
        root = studies_folder(tracking_uri)
        known = sorted(p.name for p in root.iterdir() if (p / FILE).is_file()) if root.is_dir() else []
        raise HarnessError(f"No study '{study}' in {root}.{did_you_mean(study, known)}",
                           hint=f"Known studies: {', '.join(known) or 'none'} (make one with `harness study create`; "
                                "pass the same --tracking-uri, or the study's folder).")
    return Study(folder)
