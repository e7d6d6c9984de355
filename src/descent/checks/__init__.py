"""Numerical checks of students' functions, one module per chapter.

Every check takes the student's function as its first argument
(``check_sigmoid(sigmoid)``) and compares what it returns with an independent
oracle: PyTorch, central finite differences or a closed form, never a copy of
the model answer. A check returns ``None`` when the function is right and raises
``AssertionError`` with a message that teaches when it is not. Keyword arguments
(seed, shape, edge values, ...) let hidden tests probe cases the visible test
does not show.
"""
