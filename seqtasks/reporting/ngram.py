"""Interpolated Kneser-Ney n-gram language model: the count-based baseline for perplexity."""

import math
from collections import Counter, defaultdict


class KneserNey:
    """Interpolated Kneser-Ney n-gram model (Kneser & Ney 1995; Chen & Goodman 1998), one discount.

    With `c` the counts at the top order and `N1+(. h w)` the number of
    distinct tokens seen before `h w` (continuation counts) at lower orders,

        P(w | h) = max(c(h w) - D, 0) / c(h) + D * N1+(h .) / c(h) * P(w | h')

    where `h'` drops the oldest token of `h`, `N1+(h .)` is the number of
    distinct tokens seen after `h`, and below the unigram sits the uniform
    distribution over the vocabulary, so every token (unseen ones too, as
    `unk`) has a nonzero probability. A context never seen falls back to the
    next order whole. Probabilities over the vocabulary sum to 1.

    Sentence mode (`stream=False`, the default): each sequence is padded with
    `order - 1` `bos` on the left and one `eos` on the right; `eos` is a
    predicted token (counted in `evaluate`'s `tokens`), `bos` is only context.
    Stream mode (`stream=True`, for one long text such as PTB or Shakespeare):
    the sequences are joined in order into one stream, nothing is added (put
    an explicit end-of-line token in the data if you want one), and the
    context carries over from one sequence to the next. The first `order - 1`
    tokens of a stream lack a full context: in training they are context
    only, in evaluation they are predicted from the shorter context they
    have (the interpolation then starts at a lower order).

    Tokens are any hashable values (int ids or strings). The vocabulary is the
    training tokens plus `unk` (plus `eos` in sentence mode); a token outside
    it, as a prediction or in a context, is read as `unk`. `bos`, `eos` and
    `unk` default to the strings "<bos>", "<eos>", "<unk>", which cannot
    collide with int ids; with string tokens, choose markers absent from the data.

    Args:
        order: n, the longest n-gram (1: unigram), an integer >= 1.
        discount: D, in (0, 1].
        stream: read the data as one stream (see above).
        bos, eos, unk: the begin, end and unknown markers.

    Example:

    ```python
    lm = KneserNey(order=3).fit([["the", "cat", "sat"], ["the", "dog", "sat"]])
    lm.prob("sat", ["the", "cat"])
    lm.evaluate([["the", "cat", "ran"]])  # {"nll_per_token", "perplexity", "bits_per_token", "tokens"}
    ```
    """

    def __init__(self, order=3, discount=0.75, stream=False, bos="<bos>", eos="<eos>", unk="<unk>"):
        if isinstance(order, bool) or not isinstance(order, int) or order < 1:
            raise ValueError(f"KneserNey order must be an integer >= 1, received order={order!r}")
        if not 0.0 < discount <= 1.0:
            raise ValueError(f"KneserNey discount must be in (0, 1], received discount={discount}")
        self.order, self.discount, self.stream = order, float(discount), stream
        self.bos, self.eos, self.unk = bos, eos, unk
        self.vocabulary = None  # the predictable tokens, set by fit

    def _predicted(self, sequences):
        """(context, token) for each predicted token; contexts up to order - 1 long, tokens mapped."""
        n = self.order - 1
        if self.stream:
            stream = [self._token(t) for seq in sequences for t in seq]
            for i, token in enumerate(stream):
                yield tuple(stream[max(0, i - n):i]), token
            return
        for seq in sequences:
            padded = [self.bos] * n + [self._token(t) for t in seq] + [self.eos]
            for i in range(n, len(padded)):
                yield tuple(padded[i - n:i]), padded[i]

    def _token(self, token):
        return token if self.vocabulary is None or token in self._known else self.unk

    def fit(self, sequences):
        """Counts the n-grams of `sequences` (a list of token lists); returns self."""
        sequences = [list(seq) for seq in sequences]
        self.vocabulary, self._known = None, None  # no mapping while counting
        # Top order: raw counts (in stream mode the first order - 1 tokens,
        # which lack a full context, are context only).
        levels = {self.order: Counter(context + (token,) for context, token in self._predicted(sequences)
                                      if len(context) == self.order - 1)}
        # Lower orders: continuation counts, the number of distinct tokens
        # seen before the gram.
        for k in range(self.order - 1, 0, -1):
            levels[k] = Counter(gram[1:] for gram in levels[k + 1])
        # {k: {context: (counts by token, total, distinct followers)}}
        self._tables = {}
        for k, grams in levels.items():
            by_context = defaultdict(dict)
            for gram, count in grams.items():
                by_context[gram[:-1]][gram[-1]] = count
            self._tables[k] = {h: (c, sum(c.values()), len(c)) for h, c in by_context.items()}
        tokens = dict.fromkeys(t for seq in sequences for t in seq)
        if not self.stream:
            tokens[self.eos] = None
        tokens[self.unk] = None
        self.vocabulary = list(tokens)
        self._known = set(self.vocabulary) | ({self.bos} if not self.stream else set())
        return self

    def prob(self, token, context=()):
        """P(token | context): context is the preceding tokens, oldest first (only the last order - 1 count)."""
        if self.vocabulary is None:
            raise ValueError("KneserNey.prob needs a fitted model: call fit(sequences) first")
        context = tuple(self._token(t) for t in context)
        context = context[len(context) - self.order + 1:] if self.order > 1 else ()
        return self._prob(self._token(token), context)

    def _prob(self, token, context):
        lower = self._prob(token, context[1:]) if context else 1.0 / len(self.vocabulary)
        table = self._tables[len(context) + 1].get(context)
        if table is None:  # context never seen: all the mass to the lower order
            return lower
        counts, total, followers = table
        return (max(counts.get(token, 0) - self.discount, 0.0) + self.discount * followers * lower) / total

    def log_prob_sequence(self, sequence):
        """Natural log probability of one sequence (sentence mode: its tokens and `eos`; stream mode: a stream)."""
        return sum(math.log(self.prob(token, context)) for context, token in self._predicted([sequence]))

    def evaluate(self, sequences):
        """Scores held-out data.

        Returns:
            dict: `nll_per_token` (nats), `perplexity` (exp of it),
            `bits_per_token` and `tokens` (predicted tokens, `eos` included in
            sentence mode; in stream mode the sequences are one stream).
        """
        sequences = [list(seq) for seq in sequences]
        total, tokens = 0.0, 0
        for context, token in self._predicted(sequences):
            total -= math.log(self.prob(token, context))
            tokens += 1
        if not tokens:
            raise ValueError("KneserNey.evaluate needs at least one predicted token, received none")
        nll = total / tokens
        return {"nll_per_token": nll, "perplexity": math.exp(nll), "bits_per_token": nll / math.log(2),
                "tokens": tokens}
