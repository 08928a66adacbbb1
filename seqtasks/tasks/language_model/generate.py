"""Text generation from a `LanguageModel`: a prompt, then batched sampling
(`seqtasks.generation.sampling`) compiled by Keras on every back end; and the
callback that writes samples into the run directory during training.

Example:

```python
texts, speed = generate_texts(model, preprocessor, prompt="em", num=5, temperature=0.8, seed=1)
```
"""

import logging
import time
from pathlib import Path

import keras
import numpy as np
from keras import ops

from seqtasks.data.tokenize import tokenize
from seqtasks.errors import SeqtasksError
from seqtasks.generation.sampling import NEG, draw_uniforms, sample
from seqtasks.tasks.language_model.preprocessor import BOS_ID, EOS_ID, PAD_ID, UNK_ID
from seqtasks.tasks.language_model.nll import cached_wrapper

LOG = logging.getLogger("seqtasks")


class _Sampler(keras.Model):
    """The prompt, then the sampling loop, as one function that Keras compiles
    (`predict_on_batch`: `tf.function` or `jax.jit`). Not saved."""

    def __init__(self, lm):
        super().__init__(name="sampler")
        self.lm = lm
        self.built = True

    def call(self, inputs):
        prompt = inputs["prompt"]  # (n, prompt length), <bos> first
        condition = inputs["condition"] if self.lm.condition else None  # (n,) class ids

        # <pad>, <unk> and <bos> are never drawn: they are not text.
        never = ops.convert_to_tensor(np.isin(np.arange(self.lm.vocabulary_size), [PAD_ID, UNK_ID, BOS_ID]))

        def step(token_ids, states):
            logits, states = self.lm.step(token_ids, states, condition)
            return ops.where(never[None, :], NEG, ops.cast(logits, "float32")), states

        logits, states = self.lm.forward(prompt, ops.ones_like(prompt, dtype="bool"),
                                         self.lm.initial_states(ops.shape(prompt)[0]), condition_ids=condition)
        first = ops.where(never[None, :], NEG, ops.cast(logits[:, -1], "float32"))
        tokens, lengths = sample(step, states, first, inputs["uniforms"], EOS_ID,
                                 inputs["temperature"], inputs["top_k"], inputs["top_p"], pad_id=PAD_ID)
        return {"tokens": tokens, "lengths": lengths}


def check_settings(where, prompt, num, max_length, temperature, top_k, top_p, seed):
    """Raises a one-line `SeqtasksError` for a setting out of range."""
    def is_int(value):
        return isinstance(value, (int, np.integer)) and not isinstance(value, bool)

    problems = [("num (--num)", is_int(num) and num >= 1, "a whole number of at least 1", num),
                ("max_length (--max-length)", is_int(max_length) and max_length >= 1,
                 "a whole number of at least 1", max_length),
                ("temperature (--temperature)", isinstance(temperature, (int, float)) and temperature >= 0,
                 "at least 0 (0 = the most probable token)", temperature),
                ("top_k (--top-k)", is_int(top_k) and top_k >= 0, "a whole number of at least 0 (0 = off)", top_k),
                ("top_p (--top-p)", isinstance(top_p, (int, float)) and 0 < top_p <= 1, "in (0, 1] (1 = off)",
                 top_p),
                ("seed (--seed)", is_int(seed), "a whole number", seed),
                ("prompt (--prompt)", prompt is None or (isinstance(prompt, str) and prompt != ""),
                 "a non-empty text (leave it out to start from nothing)", prompt)]
    for name, ok, expected, value in problems:
        if not ok:
            raise SeqtasksError(f"{where}: {name} must be {expected}, received {value!r}")


def prompt_ids(where, preprocessor, prompt):
    """`<bos>` and the prompt's token ids; a one-line error for unknown tokens."""
    if prompt is None:
        return [BOS_ID]
    tokens = [t for t, _, _ in tokenize(prompt, preprocessor.units)]
    if not tokens:
        raise SeqtasksError(f"{where}: the prompt {prompt!r} has no {preprocessor.units} tokens")
    unknown = preprocessor.unknown(tokens)
    if unknown:
        raise SeqtasksError(f"{where}: the prompt has {preprocessor.units} tokens the model does not know: "
                            f"{', '.join(repr(t) for t in unknown[:10])}")
    return [BOS_ID] + preprocessor.ids(tokens)


def generate_texts(model, preprocessor, prompt=None, num=10, max_length=200, temperature=1.0, top_k=0,
                   top_p=1.0, seed=0, where="generate", condition=None):
    """Samples `num` texts that continue `prompt`.

    Args:
        model: a `LanguageModel`.
        preprocessor: its `LanguageModelPreprocessor`.
        prompt: text to continue (None: from the start, `<bos>`).
        num: samples, drawn together as one batch.
        max_length: most tokens sampled per text (`<eos>` ends one earlier).
        temperature: divides the logits; 0 takes the most probable token.
        top_k: sample among the k most probable tokens (0 = all).
        top_p: sample among the most probable tokens holding this much
            probability (nucleus sampling; 1 = all).
        seed: the same seed gives the same samples.
        where: how error messages start (the run directory).
        condition: for a model conditioned on a label (`data.condition`): the
            class of every sample (a name in `preprocessor.labels`), or a list
            of `num` names, one per sample.

    Returns:
        `(texts, tokens_per_second)`: each text is the prompt and its continuation.
    """
    check_settings(where, prompt, num, max_length, temperature, top_k, top_p, seed)
    ids = prompt_ids(where, preprocessor, prompt)
    classes = condition_ids(where, preprocessor, condition, num)
    inputs = {"condition": classes,"prompt": np.tile(np.asarray(ids, np.int32), (num, 1)),
              "uniforms": draw_uniforms(seed, max_length, num),
              "temperature": np.full((num,), temperature, np.float32),
              "top_k": np.full((num,), top_k, np.int32), "top_p": np.full((num,), top_p, np.float32)}
    start = time.perf_counter()
    out = _sampler(model).predict_on_batch(inputs)
    seconds = time.perf_counter() - start
    tokens, lengths = np.asarray(out["tokens"]), np.asarray(out["lengths"])
    texts = [preprocessor.detokenize(ids[1:] + list(row[:n])) for row, n in zip(tokens, lengths)]
    return texts, float(np.sum(np.minimum(lengths + 1, max_length))) / max(seconds, 1e-9)


def condition_ids(where, preprocessor, condition, num):
    """`(num,)` int32 class ids of the samples (zeros for an unconditioned model)."""
    if condition is None:
        if preprocessor.condition:
            raise SeqtasksError(f"{where}: this language model is conditioned on {preprocessor.condition!r}; "
                                f"give --condition, one of {', '.join(preprocessor.labels)}")
        return np.zeros((num,), np.int32)
    values = [condition] * num if isinstance(condition, str) else list(condition)
    if len(values) != num:
        raise SeqtasksError(f"{where}: {len(values)} conditions for {num} samples")
    return np.asarray([preprocessor.condition_id(v, where) for v in values], np.int32)


_SAMPLERS = {}  # compiled wrappers of the last few models (a wrapper holds its model)


def _sampler(model):
    return cached_wrapper(_SAMPLERS, _Sampler, model)


def format_samples(texts):
    """Samples as text: one per line, or separated by blank lines when they span lines."""
    return ("\n\n" if any("\n" in t for t in texts) else "\n").join(texts)


class SampleCallback(keras.callbacks.Callback):
    """Appends samples to `samples.txt` after each epoch and at the end of training
    (then from the weights kept, e.g. the best epoch's).

    Args:
        preprocessor: the fitted `LanguageModelPreprocessor`.
        path: the samples file.
        num: samples each time.
        max_length: most tokens each.
        seed: the same random numbers each epoch, so epochs compare.
    """

    def __init__(self, preprocessor, path, num=10, max_length=200, seed=0):
        super().__init__()
        self.preprocessor, self.path = preprocessor, Path(path)
        self.num, self.max_length, self.seed = num, max_length, seed

    def _write(self, title):
        # A conditioned model samples the classes in turn, each sample labelled.
        labels = self.preprocessor.labels if self.preprocessor.condition else None
        condition = [labels[i % len(labels)] for i in range(self.num)] if labels else None
        texts, speed = generate_texts(self.model, self.preprocessor, num=self.num, max_length=self.max_length,
                                      seed=self.seed, condition=condition)
        if condition:
            texts = [f"{label}: {text}" for label, text in zip(condition, texts)]
        with self.path.open("a", encoding="utf-8") as f:
            f.write(f"== {title} (temperature 1, seed {self.seed}, {speed:,.0f} tokens/s) ==\n")
            f.write(format_samples(texts) + "\n\n")

    def on_epoch_end(self, epoch, logs=None):
        self._write(f"epoch {epoch + 1}")

    def on_train_end(self, logs=None):
        self._write("end of training, the weights kept")
