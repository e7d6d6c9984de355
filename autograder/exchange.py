"""nbgrader's exchange, collected as untrusted input: ``c.ExchangeFactory.collect``.

nbgrader's own collect (0.9.6) trusts the inbound folder, which every student can write to.
It only *warns* when a submission's folder belongs to someone other than the student its
name gives (so one student can hand in as another); it copies with ``shutil.copytree``,
which follows symbolic links (a student's link to the course's source would be collected,
and graded, as their notebook); a named pipe blocks it; and one folder over the size limit
or one odd name stops the collect for the whole class.

:class:`SafeCollect` keeps nbgrader's bookkeeping (the newest submission, or the newest
before the due date; the ``submitted/`` layout; ``timestamp.txt``) and changes what it trusts:

- a submission counts only when its folder, not followed if it is a link, belongs to the
  student its name gives; the others are skipped with a warning naming both users;
- the copy reads only folders and regular files that belong to that student, each opened
  without following links, relative to its already-open folder (so nothing can be swapped
  for a link between the check and the read), within nbgrader's size limits; links, pipes,
  devices, sockets and names with control characters are skipped and logged;
- whatever is wrong with one submission is logged and never stops the others.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import pwd
import shutil
import stat
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.exchange.default.collect import ExchangeCollect
from nbgrader.utils import parse_utc

#: Deepest folder nesting and most entries copied from one submission.
MAX_DEPTH, MAX_ENTRIES = 8, 2000
_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
_OPEN_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK  # a pipe must not block the open


class Refused(Exception):
    """This submission (or one of its entries) is not collected; the message says why."""


def owner_of(path: str) -> str | None:
    """The user owning ``path`` itself (a link is not followed), or None if unknown."""
    try:
        return pwd.getpwuid(os.lstat(path).st_uid).pw_name
    except (OSError, KeyError):
        return None


def printable(name: str) -> bool:
    return bool(name) and name.isprintable() and name not in (".", "..")


class SafeCollect(ExchangeCollect):
    """nbgrader's collect, reading only what each submitter owns (module docstring)."""

    def init_src(self):
        if not self.coursedir.course_id:
            self.fail("No course id specified. Re-run with --course flag.")
        self.course_path = os.path.join(self.root, self.coursedir.course_id)
        self.inbound_path = os.path.join(self.course_path, "inbound")
        if not os.path.isdir(self.inbound_path):
            self.fail(f"Course not found: {self.inbound_path}")
        student = self.coursedir.student_id or "*"
        pattern = os.path.join(glob.escape(self.inbound_path),
                               f"{student}+{self.coursedir.assignment_id}+*")
        by_student: dict[str, list[dict]] = {}
        for path in glob.glob(pattern):
            record = self._record(path)
            if record is not None:
                by_student.setdefault(record["username"], []).append(record)
        due = self._due_date()
        self.src_records = []
        for records in by_student.values():
            records.sort(key=lambda record: record["timestamp"], reverse=True)
            on_time = [r for r in records if due is not None and r["timestamp"] <= due]
            self.src_records.append(on_time[0] if on_time and self.before_duedate else records[0])

    def _record(self, path: str) -> dict | None:
        """A submission's record, or None (logged) when its name or its owner is wrong."""
        name = os.path.basename(path)
        parts = name.rsplit("+", 3)
        try:
            timestamp = parse_utc(parts[2])
        except Exception:  # noqa: BLE001 - any unreadable name is one skipped folder
            self.log.warning("Not collected: %r is not a submission's name "
                             "(student+assignment+time)", name)
            return None
        claimed, owner = parts[0], owner_of(path)
        if not stat.S_ISDIR(os.lstat(path).st_mode) or owner != claimed:
            self.log.warning("Not collected: %r claims to be from %s but belongs to %s "
                             "(or is not a folder)", name, claimed, owner)
            return None
        return {"username": claimed, "filename": name, "timestamp": timestamp}

    def _due_date(self):
        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gradebook:
            try:
                return gradebook.find_assignment(self.coursedir.assignment_id).duedate
            except MissingEntry:
                return None

    def copy_files(self):
        """nbgrader's copy_files, with one student's failure kept to that student."""
        records, failed = self.src_records, []
        for record in records:
            self.src_records = [record]
            try:
                super().copy_files()
            except Exception as error:  # noqa: BLE001 - never the whole class
                failed.append(record["username"])
                self.log.error("Not collected: %s's submission %r: %s", record["username"],
                               record["filename"], error)
        self.src_records = records
        if failed:
            self.log.error("%d submission(s) not collected: %s", len(failed), ", ".join(failed))

    def do_copy(self, src, dest, log=None):
        student = os.path.basename(src).rsplit("+", 3)[0]
        limits = CopyLimits(file_bytes=1000 * self.coursedir.max_file_size,
                        total_bytes=1000 * self.coursedir.max_dir_size,
                        ignore=list(self.coursedir.ignore), include=list(self.coursedir.include))
        partial = Path(f"{dest}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        try:
            skipped = copy_owned(src, partial, pwd.getpwnam(student).pw_uid, limits)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        os.replace(partial, dest)  # whole or absent: a half copy is never graded
        for what in skipped:
            self.log.warning("%s's submission: skipped %s", student, what)


class CopyLimits:
    def __init__(self, file_bytes: int, total_bytes: int, ignore=(), include=("*",)):
        self.file_bytes, self.total_bytes = file_bytes, total_bytes
        self.ignore, self.include = list(ignore), list(include) or ["*"]
        self.used_bytes = self.entries = 0


def copy_owned(src: str, dest: Path, uid: int, limits: CopyLimits) -> list[str]:
    """Copy the folders and regular files under ``src`` that belong to ``uid`` into ``dest``;
    return what was skipped, and why. Raises :class:`Refused` if ``src`` itself is not a
    folder of ``uid``'s, or the submission is over ``limits.total_bytes``."""
    try:
        top = os.open(src, _OPEN_DIR)
    except OSError as error:
        raise Refused(f"cannot open the submission's folder: {error.strerror}") from None
    try:
        if os.fstat(top).st_uid != uid:
            raise Refused("the submission's folder belongs to another user")
        skipped: list[str] = []
        _copy_folder(top, dest, uid, limits, "", 0, skipped)
        return skipped
    finally:
        os.close(top)


def _copy_folder(folder: int, dest: Path, uid: int, limits: CopyLimits, shown: str, depth: int,
                 skipped: list[str]) -> None:
    dest.mkdir(mode=0o755)
    for entry in sorted(os.listdir(folder)):
        where = f"{shown}{entry!r}"
        limits.entries += 1
        if limits.entries > MAX_ENTRIES:
            skipped.append(f"everything after {MAX_ENTRIES} entries")
            return
        if not printable(entry) or "/" in entry:
            skipped.append(f"{where} (a name with control characters)")
            continue
        if any(fnmatch.fnmatch(entry, pattern) for pattern in limits.ignore):
            continue
        info = os.stat(entry, dir_fd=folder, follow_symlinks=False)
        if info.st_uid != uid:
            skipped.append(f"{where} (belongs to another user)")
        elif stat.S_ISDIR(info.st_mode):
            if depth + 1 > MAX_DEPTH:
                skipped.append(f"{where} (folders nested deeper than {MAX_DEPTH})")
                continue
            inner = os.open(entry, _OPEN_DIR, dir_fd=folder)
            try:
                _copy_folder(inner, dest / entry, uid, limits, f"{where}/", depth + 1, skipped)
            finally:
                os.close(inner)
        elif not stat.S_ISREG(info.st_mode):
            skipped.append(f"{where} (a link or special file, not a regular file)")
        elif not any(fnmatch.fnmatch(entry, pattern) for pattern in limits.include):
            continue
        elif info.st_size > limits.file_bytes:
            skipped.append(f"{where} ({info.st_size} bytes, over {limits.file_bytes})")
        else:
            _copy_file(folder, entry, dest / entry, uid, limits, where, skipped)


def _copy_file(folder: int, name: str, target: Path, uid: int, limits: CopyLimits, where: str,
               skipped: list[str]) -> None:
    try:
        handle = os.open(name, _OPEN_FILE, dir_fd=folder)
    except OSError as error:  # swapped for a link since the check: ELOOP
        skipped.append(f"{where} (could not be opened: {error.strerror})")
        return
    with os.fdopen(handle, "rb") as source:
        info = os.fstat(source.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_uid != uid:
            skipped.append(f"{where} (changed while being collected)")
            return
        room = min(limits.file_bytes, limits.total_bytes - limits.used_bytes)
        data = source.read(room + 1)
    if len(data) > room:
        raise Refused(f"the submission is over {limits.total_bytes} bytes "
                      f"(CourseDirectory.max_dir_size / max_file_size)")
    limits.used_bytes += len(data)
    target.write_bytes(data)
