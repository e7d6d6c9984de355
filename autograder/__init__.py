"""The course's grading command: ``python -m autograder grade ASSIGNMENT SUBMISSIONS --out DIR``."""
