"""Descent: the course library.

Shared by the book, the student notebooks and the autograder: loss surfaces,
plots, interactive demos with static twins, and the numerical checks that grade
students' functions. It never holds a model answer: those live only in
``solutions/<chapter>/<chapter>.ipynb`` and are loaded by :mod:`descent.answers`.
"""

__version__ = "0.1.0"
