"""`make hub`: the course on a JupyterHub on this machine, for an instructor, a TA and students.

Run as root (it creates local users and starts servers as them):

    sudo make hub                      # http://127.0.0.1:8000, gradebook on a PostgreSQL of its own
    sudo make hub HUB_DB=postgresql://…  # or a gradebook server you already run

What it sets up, under HUB_ROOT (default /srv/descent-hub), before starting JupyterHub:

- users: local Unix accounts for the instructor, the TA and each student (HUB_STUDENTS), with
  passwords kept in ``HUB_ROOT/passwords.json`` (root only); JupyterHub checks them with PAM.
  Also ``descent-grader``, the course's own account, which nobody logs in as: it owns the course
  folder and the gradebook, and runs the formgrader, which the instructor and the TA reach as a
  hub service (group ``formgrade-descent``).
- ``course/``: nbgrader's course folder (source, release, submitted, autograded, feedback), mode
  0700, owned by descent-grader; its ``nbgrader_config.py`` makes autograde run the sandboxed
  grader (:mod:`autograder.sandboxed`) and collect read the exchange safely
  (:mod:`autograder.exchange`).
- ``exchange/``: nbgrader's exchange; its inbound folder has the sticky bit, so no student can
  rename or remove another's submission.
- ``pg/``: the gradebook's PostgreSQL cluster, run as descent-grader, reachable only through a
  socket in a folder only descent-grader may enter (no TCP port).
- the checkout's .venv runs every user's server: the folders above it and above its Python are
  opened for passage (o+x) where they are not, and ``make hub`` prints which.
- ``etc/students`` and ``etc/staff``: the Jupyter settings each group's servers read (students
  get the Assignment List and Validate, not the formgrader or Create Assignment).
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import signal
import stat
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from autograder import course  # noqa: E402
from autograder.pgserver import PostgresUnavailable, gradebook_server  # noqa: E402

COURSE_ID = course.COURSE_ID
GRADER = "descent-grader"
INSTRUCTOR, TA = "descent-instructor", "descent-ta"
STAFF_GROUP = f"formgrade-{COURSE_ID}"  # nbgrader's convention: formgrade-<course id>
FORMGRADER_PORT = 9999
STUDENT_HIDDEN = {  # what students' JupyterLab leaves out: it is staff's work
    "@jupyter/nbgrader:formgrader": True,
    "@jupyter/nbgrader:create-assignment": True,
    "@jupyter/nbgrader:course-list": True,
}


class HubError(Exception):
    """The hub cannot be set up; the message says what to do."""


def settings() -> dict:
    students = os.environ.get("HUB_STUDENTS", "descent-alice descent-bob").split()
    return {
        "root": Path(os.environ.get("HUB_ROOT", "/srv/descent-hub")).resolve(),
        "port": int(os.environ.get("HUB_PORT", "8000")),
        "db": os.environ.get("HUB_DB", ""),
        "students": students,
        "proxy": os.environ.get("HUB_PROXY", str(REPO / ".hub" / "proxy" / "node_modules" / ".bin"
                                                 / "configurable-http-proxy")),
    }


def ensure_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    run("useradd", "--create-home", "--user-group", "--shell", "/bin/bash", name)
    user = pwd.getpwnam(name)
    os.chmod(user.pw_dir, 0o700)  # a student's files are theirs alone
    return user


def ensure_passwords(root: Path, names: list[str]) -> dict[str, str]:
    """Each user's password (made once, kept in root-only passwords.json), set for PAM."""
    path = root / "passwords.json"
    known = json.loads(path.read_text()) if path.exists() else {}
    for name in names:
        known.setdefault(name, secrets.token_urlsafe(12))
    path.touch(mode=0o600)
    os.chmod(path, 0o600)
    path.write_text(json.dumps(known, indent=1))
    lines = "".join(f"{name}:{known[name]}\n" for name in names)
    subprocess.run(["chpasswd"], input=lines, text=True, check=True)
    return {name: known[name] for name in names}


def ensure_group(group: str, members: list[str]) -> None:
    if subprocess.run(["getent", "group", group], capture_output=True).returncode != 0:
        run("groupadd", group)
    for member in members:
        run("usermod", "--append", "--groups", group, member)


def owned_folder(path: Path, owner: str, mode: int) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    user = pwd.getpwnam(owner)
    os.chown(path, user.pw_uid, user.pw_gid)
    os.chmod(path, mode)
    return path


def reachable_by_others(path: Path) -> bool:
    """Whether any user may pass through every folder above ``path`` and run/read it."""
    for folder in [*reversed(path.parents)]:
        if not os.stat(folder).st_mode & stat.S_IXOTH:
            return False
    return bool(os.stat(path).st_mode & stat.S_IROTH)


def open_passage(path: Path) -> list[Path]:
    """Let other users pass through (o+x: enter, not list) the folders above ``path``."""
    opened = []
    for folder in reversed(path.parents):
        mode = os.stat(folder).st_mode
        if not mode & stat.S_IXOTH:
            os.chmod(folder, stat.S_IMODE(mode) | stat.S_IXOTH)
            opened.append(folder)
    return opened


def ensure_runtime() -> Path:
    """The checkout's Python, made runnable by every user: its path.

    Each user's server runs the course's own environment (.venv). When its interpreter lives
    where others cannot pass (pyenv under /root, mode 0700), the folders above it are opened
    for passage only (o+x: enter, not list), and that is printed."""
    python = Path(sys.executable)
    opened = open_passage(python.resolve()) + open_passage(python)
    if opened:
        print(f"make hub: let other users pass through {', '.join(map(str, opened))} "
              "(o+x: enter, not list), so their servers can run the course's Python",
              file=sys.stderr)
    if not reachable_by_others(python.resolve()):
        raise HubError(f"{python.resolve()} cannot be run by other users: make it readable "
                       "(chmod o+rx) or build .venv with a system-wide Python")
    return python


def write_jupyter_settings(root: Path, exchange: Path) -> dict[str, Path]:
    """The Jupyter settings of students' and staff's own servers: course id and exchange for
    nbgrader, and (students) the staff's extensions switched off."""
    folders = {}
    for role in ("students", "staff"):
        folder = root / "etc" / role
        (folder / "labconfig").mkdir(parents=True, exist_ok=True)
        (folder / "nbgrader_config.py").write_text(
            "c = get_config()  # noqa: F821  (written by make hub)\n"
            f"c.CourseDirectory.course_id = {COURSE_ID!r}\n"
            f"c.Exchange.root = {str(exchange)!r}\n")
        hidden = STUDENT_HIDDEN if role == "students" else {}
        (folder / "labconfig" / "page_config.json").write_text(
            json.dumps({"disabledExtensions": hidden}, indent=1))
        (folder / "jupyter_server_config.json").write_text(json.dumps({"ServerApp": {
            "jpserver_extensions": {"nbgrader.server_extensions.formgrader": role == "staff"}}},
            indent=1))
        for path in [folder, *folder.rglob("*")]:
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        folders[role] = folder
    return folders


def prepare_course(root: Path, exchange: Path, db_url: str) -> Path:
    """The course folder, descent-grader's: every assignment's source and nbgrader's config."""
    folder = owned_folder(root / "course", GRADER, 0o700)
    for notebook in sorted((REPO / "solutions").glob("*/*.ipynb")):
        target = folder / "source" / notebook.parent.name
        if not target.exists():  # the instructor's edits on the hub are kept
            shutil.copytree(notebook.parent, target,
                            ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    (folder / "nbgrader_config.py").write_text(
        course.config_text(folder, db_url, first_step="autograder.sandboxed.SandboxedAutograde")
        + "# The hub: nbgrader's exchange, collected safely; the release's stub.\n"
        f"c.Exchange.root = {str(exchange)!r}\n"
        "c.ExchangeFactory.collect = 'autograder.exchange.SafeCollect'\n"
        "c.ClearSolutions.code_stub = {'python': '# YOUR CODE HERE\\n"
        "raise NotImplementedError()'}\n")
    grader = pwd.getpwnam(GRADER)
    for path in [folder, *folder.rglob("*")]:
        os.chown(path, grader.pw_uid, grader.pw_gid)
    return folder


def prepare_exchange(root: Path) -> Path:
    exchange = root / "exchange"
    exchange.mkdir(exist_ok=True)
    os.chmod(exchange, 0o1777)  # anyone may make a course folder; nobody removes another's
    course_folder = owned_folder(exchange / COURSE_ID, GRADER, 0o755)
    # Students may drop a submission in, never list or touch one: nbgrader's 0733, and sticky.
    owned_folder(course_folder / "inbound", GRADER, 0o1733 | stat.S_ISGID)
    owned_folder(course_folder / "outbound", GRADER, 0o755)
    owned_folder(course_folder / "feedback", GRADER, 0o711)
    return exchange


def run(*command: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise HubError(f"{' '.join(command)} failed: {(done.stderr or done.stdout).strip()}")


def main() -> int:
    if os.geteuid() != 0:
        print("make hub: run it as root (sudo make hub): it creates the course's local users and "
              "starts each user's server as that user.", file=sys.stderr)
        return 2
    config = settings()
    root: Path = config["root"]
    proxy = Path(config["proxy"])
    try:
        if not proxy.exists():
            raise HubError(f"no configurable-http-proxy at {proxy}: `make hub` installs it with "
                           "npm (apt-get install nodejs npm)")
        root.mkdir(parents=True, exist_ok=True)
        os.chmod(root, 0o755)
        python = ensure_runtime()
        for name in (GRADER, INSTRUCTOR, TA, *config["students"]):
            ensure_user(name)
        ensure_group(STAFF_GROUP, [INSTRUCTOR, TA])
        passwords = ensure_passwords(root, [INSTRUCTOR, TA, *config["students"]])
        exchange = prepare_exchange(root)
        jupyter = write_jupyter_settings(root, exchange)
        with ExitStack() as stack:
            db_url = config["db"] or stack.enter_context(gradebook_server(root / "pg", GRADER))
            course_folder = prepare_course(root, exchange, db_url)
            hub_state = owned_folder(root / "hub", "root", 0o700)
            env = {**os.environ,
                   "DESCENT_HUB_PYTHON": str(python), "DESCENT_HUB_COURSE": str(course_folder),
                   "DESCENT_HUB_STUDENTS": " ".join(config["students"]),
                   "DESCENT_HUB_STUDENTS_CONFIG": str(jupyter["students"]),
                   "DESCENT_HUB_STAFF_CONFIG": str(jupyter["staff"]),
                   "DESCENT_HUB_VENV": str(Path(sys.prefix)),
                   "DESCENT_HUB_PORT": str(config["port"]), "DESCENT_HUB_PROXY": str(proxy)}
            print(f"make hub: http://127.0.0.1:{config['port']}/  users and passwords: "
                  f"{root / 'passwords.json'}", file=sys.stderr)
            for name, password in passwords.items():
                print(f"  {name:22s} {password}", file=sys.stderr)
            hub = subprocess.Popen(
                [sys.executable, "-m", "jupyterhub", "-f",
                 str(Path(__file__).with_name("jupyterhub_config.py"))],
                cwd=hub_state, env=env)
            signal.signal(signal.SIGTERM, lambda *_: hub.terminate())
            try:
                return hub.wait()
            except KeyboardInterrupt:
                hub.terminate()
                return hub.wait()
    except (HubError, PostgresUnavailable) as error:
        print(f"make hub: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
