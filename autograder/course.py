"""Compatibility module: the names callers used from ``autograder.course``, now each in the module of its concern.

- ``autograder.paths``: the repository's folders and the lab list;
- ``autograder.submissions``: reading, checking and restoring submitted notebooks, the reference answers;
- ``autograder.grading``: grading one submission (``grade_submission``, ``GradeResult``, template course, nbgrader);
- ``autograder.batch``: the coordinator (``grade_batch``, ``grade_labs``, the canary, local workers);
- ``autograder.gradebook``: the course gradebook, ``grades.csv``, feedback files;
- ``autograder.sandbox`` and ``autograder.limits``: the student kernel's sandbox and its limits.

New code imports from those modules; nothing here is defined anew.
"""

from __future__ import annotations

from autograder.batch import (  # noqa: F401 (re-exported)
    THREAD_VARIABLES,
    grade_batch,
    grade_labs,
    kernel_thread_env,
    result_line,
    run_jobs,
    start_worker,
)
from autograder.errors import CanaryFailed, GradingError  # noqa: F401 (re-exported)
from autograder.gradebook import (  # noqa: F401 (re-exported: callers use course.<name>)
    COURSE_DB,
    RESULT_COLUMNS,
    already_graded,
    connect,
    ensure_assignment,
    load_results,
    record,
    record_row,
    write_csv,
    write_feedback,
)
from autograder.grading import (  # noqa: F401 (re-exported)
    GradeResult,
    fallback_feedback,
    grade_job,
    grade_submission,
    nbgrader_env,
    prepare_template,
    read_messages,
    read_scores,
    release,
    run_in_process,
    run_nbgrader,
    write_course_config,
)
from autograder.paths import AUTOGRADER_DIR, COURSE_CONFIG, NOTEBOOKS, ROOT, SOLUTIONS, labs  # noqa: F401
from autograder.submissions import (  # noqa: F401 (re-exported)
    SUSPICIOUS,
    VALID_STUDENT_ID,
    check_submission,
    collect_submissions,
    reference_submission,
    restore_deleted_cells,
    suspicious_code,
)
