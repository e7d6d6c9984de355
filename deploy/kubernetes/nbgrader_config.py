"""nbgrader's configuration in both images (Dockerfile.singleuser puts it on JUPYTER_CONFIG_PATH).

Every server, a student's or the formgrader's, gets the course id and the exchange. The formgrader
(the hub pod's ``formgrader`` container, deploy/kubernetes/values.yaml) also sets
DESCENT_COURSE_ROOT and DESCENT_GRADEBOOK_URL; there this file adds the course itself, written by
the same code as `make hub`'s course (:func:`autograder.course.config_text`): autograde runs the
sandboxed grader (:class:`autograder.sandboxed.SandboxedAutograde`), never nbgrader's kernel, and
collect is :class:`autograder.exchange.SafeCollect`.

UNTESTED on Kubernetes (see README.md): it compiles, and tests/test_deploy.py checks it.
"""

import hashlib
import os
import re
from pathlib import Path

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file

COURSE_ID = "descent"
EXCHANGE = "/srv/nbgrader/exchange"  # the shared exchange volume, mounted in every pod
UID_BASE, UID_SPAN = 200_000, 1 << 30  # students' uids; the grader is 10000, jovyan 1000


def descent_uid(name: str) -> int:
    """The uid a hub user's pod runs as. values.yaml's hub config has the same function (a test
    compares them): SafeCollect trusts a submission only when its owner is the uid of the
    student its name claims, so every student needs a uid of their own."""
    digest = hashlib.sha256(name.encode()).digest()
    return UID_BASE + int.from_bytes(digest[:8], "big") % UID_SPAN


c.CourseDirectory.course_id = COURSE_ID
c.Exchange.root = EXCHANGE

COURSE_ROOT = os.environ.get("DESCENT_COURSE_ROOT")  # set in the formgrader container only
if COURSE_ROOT:
    from autograder import course
    from autograder.exchange import SafeCollect

    exec(course.config_text(Path(COURSE_ROOT), os.environ["DESCENT_GRADEBOOK_URL"],
                            first_step="autograder.sandboxed.SandboxedAutograde"))
    c.Exchange.root = EXCHANGE  # config_text leaves the exchange alone; keep it explicit
    c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

    HUB_NAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")  # what may become a line of /etc/passwd

    class ClusterCollect(SafeCollect):
        """SafeCollect, with a passwd entry (name -> descent_uid(name)) for each student whose
        name a submission claims, so SafeCollect's owner check can look the student up.
        A name that could not be a hub user's gets no entry: its submission is refused."""

        def init_src(self):
            inbound = Path(self.root) / COURSE_ID / "inbound"
            entries = inbound.iterdir() if inbound.is_dir() else ()  # SafeCollect says why
            claimed = {entry.name.rsplit("+", 3)[0] for entry in entries}
            known = {line.split(":", 1)[0] for line in Path("/etc/passwd").read_text().splitlines()}
            with open("/etc/passwd", "a") as passwd:  # writable by the grader in its image only
                for name in sorted(claimed - known):
                    if HUB_NAME.fullmatch(name):
                        uid = descent_uid(name)
                        passwd.write(f"{name}:x:{uid}:100::/nonexistent:/usr/sbin/nologin\n")
            super().init_src()

    c.ExchangeFactory.collect = ClusterCollect
