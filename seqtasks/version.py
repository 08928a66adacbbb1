"""The seqtasks version (a leaf module: the package and the run directories
read it without importing the package root)."""

__version__ = "0.2.0"
