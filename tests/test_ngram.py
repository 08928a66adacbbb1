"""Interpolated Kneser-Ney n-gram model: normalisation, a hand-computed bigram, perplexity arithmetic."""

import math

import pytest

from seqtasks.reporting.ngram import KneserNey

CORPUS = [["a", "b"], ["a", "c"], ["b", "a"]]
TEXT = [["the", "cat", "sat", "on", "the", "mat"], ["the", "dog", "sat", "on", "the", "log"],
        ["a", "cat", "and", "a", "dog"], ["the", "cat", "saw", "the", "dog"]]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("order", [1, 2, 3])
def test_probabilities_sum_to_one(order, stream):
    lm = KneserNey(order=order, discount=0.75, stream=stream).fit(TEXT)
    assert lm.unk in lm.vocabulary and (lm.eos in lm.vocabulary) != stream
    contexts = [(), ("the",), ("the", "cat"), ("sat", "on"), ("on", "the"),  # seen
                ("dog", "the"), ("mat", "mat"), ("zebra",), ("zebra", "cat"), ("cat", "zebra"),  # unseen
                ("x", "y", "the", "cat")]  # longer than order - 1: only the end counts
    if not stream:
        contexts += [(lm.bos,), (lm.bos, lm.bos), (lm.bos, "the")]
    for context in contexts:
        total = sum(lm.prob(token, context) for token in lm.vocabulary)
        assert abs(total - 1.0) < 1e-9, (context, total)
        assert all(lm.prob(token, context) > 0 for token in lm.vocabulary)


def test_bigram_by_hand():
    lm = KneserNey(order=2, discount=0.75).fit(CORPUS)
    d = 0.75
    # Padded: <bos> a b <eos> | <bos> a c <eos> | <bos> b a <eos>
    # Bigram counts: (<bos>,a) 2, (<bos>,b) 1, (a,b) 1, (a,c) 1, (a,<eos>) 1,
    # (b,<eos>) 1, (b,a) 1, (c,<eos>) 1: 8 distinct bigram types.
    # Continuation counts N1+(. w): a {<bos>, b} 2, b {<bos>, a} 2, c {a} 1,
    # <eos> {a, b, c} 3; sum 8, 4 tokens with a nonzero one.
    # Vocabulary: a, b, c, <eos>, <unk>: V = 5.
    vocab, types, cont_total = 5, 4, 8
    cont = {"a": 2, "b": 2, "c": 1, "<eos>": 3, "<unk>": 0}

    def unigram(w):
        return (max(cont[w] - d, 0) + d * types / vocab) / cont_total

    assert unigram("b") == pytest.approx(0.23125, abs=1e-15)  # 1.25 / 8 + 0.75 * 4 / 8 / 5
    # After "a": c(a .) = 3, c(a b) = 1, N1+(a .) = 3.
    expected_b_after_a = (1 - d) / 3 + d * 3 / 3 * unigram("b")
    assert lm.prob("b", ["a"]) == pytest.approx(expected_b_after_a, abs=1e-12)
    assert expected_b_after_a == pytest.approx(0.25 / 3 + 0.75 * 0.23125, abs=1e-15)
    # After <bos>: c(<bos> .) = 3, c(<bos> a) = 2, N1+(<bos> .) = 2.
    assert lm.prob("a", [lm.bos]) == pytest.approx((2 - d) / 3 + d * 2 / 3 * unigram("a"), abs=1e-12)
    # An unseen token after "a": the discounted mass times the uniform share.
    assert lm.prob("<unk>", ["a"]) == pytest.approx(d * 3 / 3 * (d * types / vocab / cont_total), abs=1e-12)
    assert lm.prob("zebra", ["a"]) == lm.prob("<unk>", ["a"])
    # After "c" (followed by <eos> only) "a" gets the discounted mass times its unigram;
    # an unknown one falls back to the unigram whole.
    assert lm.prob("a", ["c"]) == pytest.approx(d * 1 / 1 * unigram("a"), abs=1e-12)
    assert lm.prob("a", ["zebra"]) == pytest.approx(unigram("a"), abs=1e-12)
    # The empty context reads the lower-order (continuation) distribution.
    assert lm.prob("<eos>", []) == pytest.approx(unigram("<eos>"), abs=1e-12)


def test_order_one_is_a_unigram_interpolated_with_uniform():
    d = 0.5
    lm = KneserNey(order=1, discount=d).fit(CORPUS)
    # Raw counts with one <eos> per sentence: a 3, b 2, c 1, <eos> 3; 9 tokens, 4 types, V = 5.
    counts = {"a": 3, "b": 2, "c": 1, "<eos>": 3, "<unk>": 0}
    for token, count in counts.items():
        expected = (max(count - d, 0) + d * 4 / 5) / 9
        for context in ([], ["a"], ["b", "c"], ["zebra"]):
            assert lm.prob(token, context) == pytest.approx(expected, abs=1e-12)
    assert lm.prob("zebra") == lm.prob("<unk>") > 0


def test_evaluate_is_perplexity_of_the_mean_negative_log_prob():
    lm = KneserNey(order=3).fit(TEXT)
    held_out = [["the", "cat", "sat", "on", "the", "log"], ["a", "zebra", "saw", "the", "mat"]]
    bos, eos = lm.bos, lm.eos
    nll = []
    for seq in held_out:
        padded = [bos, bos] + seq + [eos]
        nll += [-math.log(lm.prob(padded[i], padded[i - 2:i])) for i in range(2, len(padded))]
    scores = lm.evaluate(held_out)
    assert scores["tokens"] == len(nll) == 6 + 1 + 5 + 1  # eos predicted and counted
    assert scores["nll_per_token"] == pytest.approx(sum(nll) / len(nll), rel=1e-12)
    assert scores["perplexity"] == pytest.approx(math.exp(sum(nll) / len(nll)), rel=1e-12)
    assert scores["bits_per_token"] == pytest.approx(sum(nll) / len(nll) / math.log(2), rel=1e-12)
    assert sum(lm.log_prob_sequence(seq) for seq in held_out) == pytest.approx(-sum(nll), rel=1e-12)
    # A model that saw the text scores it better than one that saw other text.
    other = KneserNey(order=3).fit([["x", "y", "z"]] * 4)
    assert lm.evaluate(TEXT)["perplexity"] < other.evaluate(TEXT)["perplexity"]


def test_stream_mode_carries_the_context():
    lm = KneserNey(order=3, stream=True).fit(TEXT)
    assert lm.eos not in lm.vocabulary
    held_out = [["the", "cat", "sat"], ["on", "the", "mat"]]
    stream = [t for seq in held_out for t in seq]
    # The context crosses the line break; the first tokens have shorter contexts.
    nll = [-math.log(lm.prob(stream[i], stream[max(0, i - 2):i])) for i in range(len(stream))]
    scores = lm.evaluate(held_out)
    assert scores["tokens"] == len(stream) == 6  # no eos, no bos in stream mode
    assert scores["perplexity"] == pytest.approx(math.exp(sum(nll) / len(nll)), rel=1e-12)
    assert lm.log_prob_sequence(stream) == pytest.approx(-sum(nll), rel=1e-12)
    assert lm.prob("on", ["cat", "sat"]) != lm.prob("on", [])  # the carried context matters


def test_unknown_tokens_and_int_ids():
    lm = KneserNey(order=2).fit([[3, 4, 5], [3, 5]])
    assert lm.vocabulary == [3, 4, 5, "<eos>", "<unk>"]
    assert lm.prob(99, [3]) == lm.prob("<unk>", [3]) > 0
    assert lm.prob(4, [99]) == lm.prob(4, ["<unk>"])
    custom = KneserNey(order=2, bos=-1, eos=-2, unk=0).fit([[3, 4, 5], [3, 5]])
    assert custom.vocabulary == [3, 4, 5, -2, 0]
    assert custom.prob(99, [3]) == custom.prob(0, [3])
    assert sum(custom.prob(t, [-1]) for t in custom.vocabulary) == pytest.approx(1.0, abs=1e-12)


def test_bad_arguments():
    with pytest.raises(ValueError) as error:
        KneserNey(order=0)
    assert str(error.value) == "KneserNey order must be an integer >= 1, received order=0"
    with pytest.raises(ValueError) as error:
        KneserNey(discount=1.5)
    assert str(error.value) == "KneserNey discount must be in (0, 1], received discount=1.5"
    with pytest.raises(ValueError) as error:
        KneserNey().prob("a")
    assert str(error.value) == "KneserNey.prob needs a fitted model: call fit(sequences) first"
