"""Warnings tallyml emits (errors are the builtin ValueError / TypeError)."""


class TallymlWarning(UserWarning):
    """Base class of every warning tallyml emits."""


class UndefinedMetricWarning(TallymlWarning):
    """A metric is ill-defined (a zero division) and was set to the ``zero_division`` value,
    emitted where scikit-learn emits its own UndefinedMetricWarning."""
