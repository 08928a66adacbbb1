"""Task models (imported here so that loading a model finds them)."""

from seqtasks.models.backbone import Backbone  # noqa: F401
from seqtasks.tasks.classifier import Classifier  # noqa: F401
from seqtasks.tasks.tagger import Tagger  # noqa: F401
