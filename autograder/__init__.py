"""Grade a class's nbgrader notebooks: students' code in a sandbox, verdicts outside it.

The flow, one module a step (``python -m autograder grade``, :mod:`autograder.grade`):

1. **intake** — :mod:`inputs` finds each student's notebooks in folders, zips and LMS bulk
   downloads (untrusted trees: no link followed, zips unpacked with limits), decides which can
   be graded and stages them; :mod:`nbcells` reads nbgrader's cell metadata;
2. **run in the sandbox** — :mod:`sandbox` starts a bubblewrap'd :mod:`worker` per notebook,
   which runs the student's cells and answers requests with plain data (:mod:`wire`,
   :mod:`codecs`, :mod:`figures`); as root, :mod:`warm` has each slot's :mod:`zygote` fork
   the workers, already started, in namespaces of their own;
3. **verdicts on the trusted side** — :mod:`judge` forks a fresh trusted process per notebook,
   where :mod:`engine` runs the instructor's test and locked cells (:mod:`cells`) against
   stand-ins for the student's names (:mod:`mirror`, :mod:`remote`) through one
   :mod:`session` with the worker;
4. **record in nbgrader** — :mod:`course` and :mod:`preprocessors`: the cells' outputs go into
   nbgrader's autograde, which scores them and writes the gradebook; :mod:`feedback_writer`
   has nbgrader write each student's feedback meanwhile, in a process of its own, and
   :mod:`feedback` adds what to revisit;
5. **report** — :mod:`grade` writes ``grades.csv`` and ``report.json``.

:mod:`cluster` (``--cluster``) runs step 2-3 on a Dask cluster's workers instead of here.
On a hub (``make hub``): :mod:`sandboxed` makes nbgrader's own autograde (the formgrader's
button) run steps 2-3; :mod:`exchange` collects from nbgrader's exchange reading only what each
student owns; :mod:`hubcourse` (``--course``) grades a hub's collected course and releases the
feedback through the exchange; :mod:`pgserver` runs a PostgreSQL gradebook of our own.

:mod:`check` (``python -m autograder check``) reads an assignment and lists the tests a
student could forge.

:mod:`lazy_imports` keeps a slow import jsonschema makes off the grader's start.
"""
