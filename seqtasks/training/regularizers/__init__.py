"""Optional training objectives beside a task's loss (registry.REGULARIZERS).

Each is a class built from `train.regularizer` that `attach`es itself to a
compiled model; none lives on the task models or in the backbone.
"""
