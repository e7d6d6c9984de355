"""nbgrader configuration for the course repository.

Used by `make release` (solutions/ -> notebooks/) and by instructors who open
nbgrader's formgrader from this folder. The course's own grading command
(`python -m autograder grade`) builds a private course folder per run and passes
the same conventions on its command line (see autograder/grade.py).
"""

import os

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

c.CourseDirectory.course_id = "descent"
c.CourseDirectory.root = REPO
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
# Students' work and grades never land in the repository: .grading/ is git-ignored.
c.CourseDirectory.submitted_directory = ".grading/submitted"
c.CourseDirectory.autograded_directory = ".grading/autograded"
c.CourseDirectory.feedback_directory = ".grading/feedback"
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(REPO, ".grading", "gradebook.db")
# A fresh clone has no .grading/: nbgrader needs it (gradebook, generate_assignment's work).
os.makedirs(os.path.join(REPO, ".grading"), exist_ok=True)

# The stub nbgrader leaves in place of each model answer.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
c.ExecutePreprocessor.timeout = 120
