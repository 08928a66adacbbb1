"""The n-gram baseline beside a language model: interpolated Kneser-Ney
(`seqtasks.reporting.ngram`) on the model's own vocabulary and token ids."""

import time

from seqtasks.reporting.ngram import KneserNey
from seqtasks.tasks.language_model.preprocessor import LanguageModelPreprocessor


def kneser_ney_baseline(recipe, dataset, order, discount=0.75):
    """Fits an order-`order` Kneser-Ney model on train and scores the held-out splits.

    Texts are one sequence each (`<eos>` added by the n-gram model) or, for
    `data.stream`, one stream of every text followed by `<eos>`, as the
    neural model reads them; so the same tokens are predicted.

    Returns:
        `{"name", "order", "discount", "seconds", <split>: {"loss", "perplexity",
        "bits_per_token", "tokens"}}`.
    """
    start = time.perf_counter()
    pre = LanguageModelPreprocessor.from_recipe(recipe).fit(dataset["train"])

    def sequences(split):
        encoded = pre.encode_split(dataset[split], split)
        # token_ids: <bos> + ids; a stream also predicts each text's <eos>.
        return [list(l) for l in encoded["labels"]] if recipe.data.stream else \
            [list(t[1:]) for t in encoded["token_ids"]]

    model = KneserNey(order, discount, stream=recipe.data.stream).fit(sequences("train"))
    result = {"name": f"interpolated Kneser-Ney {order}-gram", "order": order, "discount": discount}
    for split in [s for s in recipe.evaluate.splits if s in dataset and s != "train"]:
        scores = model.evaluate(sequences(split))
        result[split] = {"loss": scores["nll_per_token"], "perplexity": scores["perplexity"],
                         "bits_per_token": scores["bits_per_token"], "tokens": scores["tokens"]}
    result["seconds"] = time.perf_counter() - start
    return result
