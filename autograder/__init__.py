"""The course's grading tools on top of nbgrader: `python -m autograder --help`."""
