"""Custom Keras layers (imported here so that loading a model finds them)."""

from seqtasks.layers.char_features import CharBiLSTM, CharCNN  # noqa: F401
from seqtasks.layers.crf import CRF  # noqa: F401
from seqtasks.layers.pooling import SequencePooling  # noqa: F401
from seqtasks.layers.recurrent import GRU, LSTM, SimpleRNN  # noqa: F401
from seqtasks.layers.token_dropout import TokenDropout  # noqa: F401
