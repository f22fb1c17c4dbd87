"""The grading tools' exceptions, in one place."""


class GradingError(RuntimeError):
    """A submission or the course set-up cannot be graded; the message says why."""


class CanaryFailed(GradingError):
    """The lab's reference answers do not get full marks in this grading environment: grading stops."""
