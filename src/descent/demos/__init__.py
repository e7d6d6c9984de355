"""Figure builders for the chapters' demos, one module per chapter.

Each builder returns a :class:`matplotlib.figure.Figure` and takes the model
answers it draws with as arguments, so this package never holds one.
"""
