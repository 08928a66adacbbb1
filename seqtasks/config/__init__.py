"""Recipes: YAML -> validated dataclasses (`Recipe`) and their checks."""

from seqtasks.config.recipe import Recipe  # noqa: F401
