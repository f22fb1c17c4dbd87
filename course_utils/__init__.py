"""Helpers for the deep-learning lab course: data, plots, checks and lab set-up (never solutions)."""

from course_utils.environment import LabEnvironment, setup_lab

__all__ = ["LabEnvironment", "setup_lab"]
__version__ = "0.1.0"
