"""The LeNet-5 lab (chapter 09): devices and the training scaffold, the optimizer experiment
and its cache, and the adapters through which the grader sees a student's model.

The model, the training epoch, the evaluation and the optimizer are the chapter's
exercises: this package never defines them, it takes them as arguments (the model answers
on the page and in the scripts, a student's own in their notebook).
"""
