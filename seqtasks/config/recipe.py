"""Recipes: YAML -> validated dataclasses with every default filled in.

Config flows one way (DESIGN.md, house rule 5): a YAML file or a dict becomes a
`Recipe`; unknown keys, wrong types and unknown component names are
`RecipeError`s that name the key; `Recipe.to_yaml()` writes the resolved recipe
with every default spelled out, which is what a run directory keeps.

Example:

```python
recipe = Recipe.from_yaml("recipes/pos_ud_ewt_bilstm.yaml",
                          overrides=["train.epochs=3", "data.limit.train=500"])
print(recipe.model.encoder.kind)  # "lstm"
```
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

import yaml

from seqtasks.errors import RecipeError


@dataclass
class DataRecipe:
    """Where the data comes from (exactly one of card / files / disk / hub, or
    a `DatasetDict` passed to `seqtasks.train(data=...)`)."""

    card: Optional[str] = None
    root: Optional[str] = None
    files: Optional[dict] = None
    disk: Optional[str] = None
    hub: Optional[dict] = None
    columns: dict = field(default_factory=dict)
    reader: dict = field(default_factory=dict)
    labels: Optional[list] = None
    limit: dict = field(default_factory=dict)
    split_seed: int = 1234
    # Longest training example (tokens): longer ones are split (per-token
    # tasks) or refused (classification), the count reported
    # (`data.lengths`); null: no bound.
    max_length: Optional[int] = 1000
    # Token-level input features beside the words (tagging): names of
    # string-sequence columns, e.g. [pos] for chunking on CoNLL-2003.
    features: list = field(default_factory=list)
    # Span-label handling (NER/chunking): the scheme the files are written in
    # (default: the card's), the scheme to train in, and whether illegal tags
    # are repaired explicitly (otherwise they are rejected with file:line).
    scheme: Optional[str] = None
    target_scheme: Optional[str] = None
    repair_tags: bool = False
    # Language models: read each split as one token stream (the texts joined,
    # <eos> after each) and train on windows of it with truncated
    # backpropagation through time, the state carried from window to window
    # (PTB, Tiny Shakespeare). False: one example per text, <bos> text <eos>
    # (names).
    stream: bool = False
    # Language models: a label column to condition on (e.g. `label`, the
    # language of each surname): its value is an input at every step, and
    # `seqtasks generate --condition VALUE` samples texts of that class.
    condition: Optional[str] = None
    # Translation: the languages of the source and target, e.g. {source: de,
    # target: en}. They pick the pair from a `translation` column of
    # {language: text} dicts (wmt16, iwslt) or from columns named by language
    # (the multi30k card, bentrevett/multi30k); without them the data needs
    # `source` and `target` columns.
    languages: Optional[dict] = None


@dataclass
class PreprocessRecipe:
    """Vocabularies and lengths (fitted on the training split only)."""

    units: str = "word"  # word | char (characters become the tokens)
    lowercase: bool = False
    normalize_digits: bool = False  # map digits to 0 in the token vocabulary
    min_frequency: int = 1
    max_vocabulary: Optional[int] = None
    max_length: Optional[int] = None  # longer examples are truncated, with a warning
    max_word_length: int = 20  # characters kept per word for char features
    # Translation: `sentencepiece` cuts each side into subword units (a unigram
    # model of `subword_vocabulary` pieces per language, trained on the
    # training split; the models are kept in preprocessor.json). `none`: the
    # tokens of `units`.
    subwords: str = "none"
    subword_vocabulary: int = 8000


@dataclass
class EmbeddingRecipe:
    dim: int = 100
    dropout: float = 0.0
    word_dropout: float = 0.0  # replace tokens by <unk> with this probability in training
    pretrained: Optional[str] = None  # GloVe / word2vec text file
    lowercase_match: bool = True
    trainable: bool = True
    feature_dim: int = 25  # width of each token-feature embedding (data.features)


@dataclass
class CharFeaturesRecipe:
    kind: str = "none"  # none | cnn | bilstm
    embedding_dim: int = 30
    dim: int = 50  # CNN filters, or LSTM units per direction
    kernel_size: int = 3


@dataclass
class EncoderRecipe:
    kind: str = "lstm"  # simple_rnn | lstm | gru
    units: int = 128
    layers: int = 2
    bidirectional: bool = True
    dropout: float = 0.33
    residual: bool = False
    variational: bool = False  # one dropout mask per sequence, shared by its time steps
    recurrent_dropout: float = 0.0  # on the recurrent state; > 0 rules out cuDNN on GPU
    # kind: reservoir (an echo state network: fixed random weights, only the
    # layers around it train). Its recurrent matrix is rescaled to this
    # largest absolute eigenvalue; below 1 the state forgets its start.
    spectral_radius: float = 0.9
    leak_rate: float = 1.0  # in (0, 1]: h = (1 - a) h + a tanh(...); smaller = slower dynamics
    input_scaling: float = 1.0  # scale of the fixed input weights
    sparsity: float = 0.9  # fraction of zero recurrent weights, in [0, 1)
    seed: int = 0  # seed of the reservoir's fixed random weights


@dataclass
class HeadRecipe:
    kind: str = "auto"  # registry.HEADS[task kind]; auto = the kind's first head
    hidden: int = 0  # a tanh hidden layer before the output when > 0
    dropout: float = 0.0
    pooling: str = "last"  # classifier: registry.POOLING (last | mean | max | attention)
    constrain: bool = True  # CRF: forbid transitions illegal in the scheme
    # Language models: the output projection is the input embedding, transposed
    # (Press & Wolf 2017, Inan et al. 2017): fewer parameters, lower perplexity.
    tie_weights: bool = False
    # Language models with `data.condition`: width of the condition's
    # embedding, concatenated to the token embedding at every step.
    condition_dim: int = 16


@dataclass
class DecoderRecipe:
    """Translation: the attention decoder (Luong et al. 2015 layout)."""

    kind: str = "gru"  # gru | lstm
    units: int = 256
    layers: int = 1
    attention: str = "bahdanau"  # registry.ATTENTION: bahdanau | luong_dot | luong_general
    attention_units: int = 256  # Bahdanau's scorer width
    # Feed the previous attentional vector into the next step (Luong et al. 2015).
    input_feeding: bool = True
    dropout: float = 0.3  # on the target embeddings and the attentional vectors
    # The output projection is the target embedding, transposed (Press & Wolf 2017).
    tie_embeddings: bool = False


@dataclass
class ModelRecipe:
    embedding: EmbeddingRecipe = field(default_factory=EmbeddingRecipe)
    char_features: CharFeaturesRecipe = field(default_factory=CharFeaturesRecipe)
    encoder: EncoderRecipe = field(default_factory=EncoderRecipe)
    head: HeadRecipe = field(default_factory=HeadRecipe)
    decoder: DecoderRecipe = field(default_factory=DecoderRecipe)


@dataclass
class RegularizerRecipe:
    # none | virtual_adversarial (Miyato et al. 2017: the divergence of the
    # outputs under the label-free worst perturbation of L2 norm `epsilon` of
    # each sentence's word features is added to the loss; softmax outputs only;
    # two more passes per step; TensorFlow back end only)
    kind: str = "none"
    epsilon: float = 1.0


@dataclass
class TrainRecipe:
    batch_size: int = 32
    epochs: int = 30
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    clipnorm: Optional[float] = 5.0  # each variable's gradient clipped to this norm
    # The gradients of all variables scaled together so that their global norm
    # is at most this (Pascanu et al. 2013); used instead of `clipnorm`.
    global_clipnorm: Optional[float] = None
    weight_decay: Optional[float] = None
    ema_momentum: Optional[float] = None  # e.g. 0.999: score, keep and save the moving average of the weights
    # An extra training objective from registry.REGULARIZERS (training/regularizers/)
    regularizer: RegularizerRecipe = field(default_factory=RegularizerRecipe)
    lr_schedule: str = "none"  # none | plateau | cosine | step
    # step: the rate is multiplied by `lr_step_factor` after each epoch listed in
    # `lr_step_epochs` (a plateau schedule's trace, replayed without reading dev).
    lr_step_epochs: list = field(default_factory=list)
    lr_step_factor: float = 0.5
    # Also train on the validation split (Flair's train_with_dev): all `epochs`
    # run and the last weights are kept; nothing reads dev to stop or pick.
    train_with_dev: bool = False
    early_stopping_patience: int = 5
    time_limit_minutes: Optional[float] = None  # stop after the epoch that passes it
    monitor: str = "auto"  # auto = the task's dev metric
    class_weight: str = "none"  # none | balanced
    bucket_batches: int = 50  # batches per length-sorted chunk (bucketing)
    mixed_precision: bool = False
    distribute: str = "auto"  # auto | none | mirrored
    threads: Optional[int] = None  # intra-op threads; None = TensorFlow's choice
    verbose: int = 1  # 1 = progress bar, 2 = one line per epoch, 0 = silent
    # Stream language models (data.stream): time steps per training window
    # (truncated backpropagation through time); batch_size is then the number
    # of parallel streams the training split is cut into.
    bptt_window: int = 35
    # Log the global gradient norm of every step (before clipping) into
    # gradient_norm.json and plots/gradient_norm.png, and each epoch's
    # largest into history.json (`max_gradient_norm`).
    log_gradient_norm: bool = False
    # Training steps per call of Keras' compiled train function (`compile`'s
    # `steps_per_execution`): same steps, less Python between them. auto = 32
    # on TensorFlow; 1 on JAX, whose compiled multi-step function would be
    # traced for each combination of batch shapes. Always 1 under a
    # tf.distribute strategy and with gradient-norm logging, which reads every
    # step (`training.fit.steps_per_execution`).
    steps_per_execution: Union[int, str] = "auto"


@dataclass
class EvaluateRecipe:
    splits: list = field(default_factory=lambda: ["validation", "test"])
    baseline: bool = False  # also train the TF-IDF + logistic regression baseline
    plots: bool = True
    # Language models: also report an interpolated Kneser-Ney n-gram model of
    # this order, on the same vocabulary and tokens, under "baseline".
    ngram_order: Optional[int] = None
    # Stream language models: rows an evaluated split is cut into. 1 = one
    # stream, the state carried over the whole split (the figure papers
    # report); more rows run faster, each row starting from a zero state.
    stream_rows: int = 1
    samples: int = 10  # language models: texts sampled into samples.txt after each epoch (0 = none)
    sample_length: int = 200  # the most tokens of each sample
    # Translation decoding: beam size of the final scores (1 = greedy only; the
    # dev metric each epoch is always greedy), GNMT length penalty alpha, the
    # longest output a * source length + b (at most max_output_length tokens),
    # and the dev sentences drawn as attention maps into plots/.
    beam_size: int = 5
    length_penalty: float = 0.6
    max_length_a: float = 2.0
    max_length_b: int = 10
    max_output_length: int = 200
    attention_plots: int = 3


@dataclass
class Recipe:
    """A whole experiment. See `recipes/*.yaml` for complete examples."""

    name: str = "experiment"
    task: str = "tagging"  # a name in registry.TASKS (tagging | classification | language_model | translation)
    seed: int = 1234
    data: DataRecipe = field(default_factory=DataRecipe)
    preprocess: PreprocessRecipe = field(default_factory=PreprocessRecipe)
    model: ModelRecipe = field(default_factory=ModelRecipe)
    train: TrainRecipe = field(default_factory=TrainRecipe)
    evaluate: EvaluateRecipe = field(default_factory=EvaluateRecipe)

    def __post_init__(self):
        from seqtasks.registry import HEADS, TASKS

        heads = HEADS.get(TASKS.get(self.task), {})
        if self.model.head.kind == "auto" and heads:
            self.model.head.kind = next(iter(heads))  # the task kind's default head

    # -- construction --------------------------------------------------------
    @classmethod
    def from_dict(cls, values, overrides=(), source="recipe"):
        """Builds a validated recipe from a nested dict and `key=value` overrides.

        Args:
            values: nested dict as read from YAML.
            overrides: iterable of `"dotted.key=value"` strings (values parsed as YAML).
            source: name used in error messages (the file path).

        Returns:
            A `Recipe` with defaults filled in and component names checked.
        """
        values = dict(values or {})
        for item in overrides:
            _apply_override(values, item, source)
        recipe = _build(cls, values, source, prefix="")
        from seqtasks.config.checks import check_recipe

        check_recipe(recipe, source)
        return recipe

    @classmethod
    def from_yaml(cls, path, overrides=()):
        """Reads a recipe file (see `from_dict`)."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise RecipeError(f"{path}: recipe file not found") from None
        except UnicodeDecodeError as err:
            raise RecipeError(f"{path}: not valid UTF-8 ({err.reason})") from None
        try:
            values = yaml.safe_load(text) or {}
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            line = f":{mark.line + 1}" if mark else ""
            raise RecipeError(f"{path}{line}: not valid YAML ({getattr(err, 'problem', err)})") from None
        if not isinstance(values, dict):
            raise RecipeError(f"{path}: expected a mapping of recipe keys, found {type(values).__name__}")
        return cls.from_dict(values, overrides, source=str(path))

    # -- output --------------------------------------------------------------
    def to_dict(self):
        return dataclasses.asdict(self)

    def to_yaml(self):
        """The resolved recipe as YAML, every default written out."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


# -- validation helpers ---------------------------------------------------------


def _apply_override(values, item, source):
    if "=" not in item:
        raise RecipeError(f"--set {item!r}: expected key=value, e.g. train.epochs=5")
    key, raw = item.split("=", 1)
    parts = key.strip().split(".")
    cls, node = Recipe, values
    for depth, part in enumerate(parts):
        known = _field_types(cls) if cls is not None else None
        if known is not None and part not in known:
            prefix = ".".join(parts[:depth])
            raise RecipeError(_unknown_key_message(f"--set {key}", prefix, part, known))
        if depth == len(parts) - 1:
            try:
                node[part] = yaml.safe_load(raw)
            except yaml.YAMLError as err:
                raise RecipeError(f"--set {item}: the value is not valid YAML "
                                  f"({getattr(err, 'problem', None) or 'cannot be parsed'})") from None
            return
        sub_type = _unwrap_optional(known[part]) if known is not None else None
        cls = sub_type if dataclasses.is_dataclass(sub_type) else None
        if known is not None and cls is None and sub_type is not dict:
            raise RecipeError(f"--set {key}: '{'.'.join(parts[:depth + 1])}' is not a section")
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise RecipeError(f"--set {key}: '{part}' is not a section in {source}")
        node = child


def _field_types(cls):
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _unwrap_optional(tp):
    if typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else tp
    return tp


def _unknown_key_message(where, prefix, key, known):
    full = f"{prefix}.{key}" if prefix else key
    close = difflib.get_close_matches(key, list(known), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"{where}: unknown key '{full}'{hint}; known keys here: {', '.join(known)}"


def _build(cls, values, source, prefix):
    if not isinstance(values, dict):
        raise RecipeError(f"{source}: '{prefix or 'recipe'}' must be a mapping, found {values!r}")
    known = _field_types(cls)
    for key in values:
        if key not in known:
            raise RecipeError(_unknown_key_message(source, prefix, key, known))
    kwargs = {}
    for name, tp in known.items():
        if name not in values:
            continue
        path = f"{prefix}.{name}" if prefix else name
        kwargs[name] = _coerce(values[name], tp, source, path)
    return cls(**kwargs)


def _coerce(value, tp, source, path):
    optional = typing.get_origin(tp) is typing.Union and type(None) in typing.get_args(tp)
    base = _unwrap_optional(tp)
    if value is None:
        if optional:
            return None
        raise RecipeError(f"{source}: '{path}' must not be empty")
    if dataclasses.is_dataclass(base):
        return _build(base, value, source, path)
    expected = {int: "an integer", float: "a number", bool: "true or false", str: "a string",
                dict: "a mapping", list: "a list"}
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
        dict: isinstance(value, dict),
        list: isinstance(value, list),
    }.get(base, True)
    if not ok:
        raise RecipeError(f"{source}: '{path}' must be {expected[base]}, found {value!r}")
    return float(value) if base is float else value
