"""Command line: parses arguments and calls the API's functions (`seqtasks.api`).

```
seqtasks train RECIPE [--output DIR] [--set key=value ...] [--data-root DIR] [--resume]
seqtasks evaluate RUN_DIR [RUN_DIR ...] [--split test|validation|dev|train] [--input FILE] [--data-root DIR]
seqtasks predict RUN_DIR [TEXT ...] [--input FILE] [--format text|conll|json] [--tag-scheme IOB2]
                 [--ensemble RUN_DIR ...]
seqtasks generate RUN_DIR [--prompt TEXT] [--num N] [--max-length L] [--temperature T] [--top-k K]
                  [--top-p P] [--seed S] [--condition LABEL]
seqtasks translate RUN_DIR [TEXT ...] [--input FILE] [--beam N] [--nbest K] [--format text|json]
                   [--attention out.png]
seqtasks baseline RECIPE [--set key=value ...] [--data-root DIR]
seqtasks show RECIPE [--set key=value ...]
seqtasks data list | seqtasks data verify [NAME] [--data-root DIR]
```
Input errors print one line and exit with code 2 (no traceback). Argument
errors are found before TensorFlow is imported (it takes 10-20 s to start).
"""

import argparse
import json
import logging
import sys
from pathlib import Path

from seqtasks.data.schemes import SCHEME_NAMES
from seqtasks.errors import SeqtasksError, environment_error

# `dev` is the name most corpora give the validation split.
SPLITS = ("train", "validation", "dev", "test")
SPLIT_ALIASES = {"dev": "validation"}
PREDICT_TEXTS_HELP = (
    "raw texts, one sentence each (quote each one). They need not be tokenised: taggers split "
    "them into Penn Treebank tokens with NLTK's TreebankWordTokenizer, as UD English and "
    "CoNLL-2003 are tokenised (\"can't\" -> ca n't, \"U.K.\" kept whole); classifiers with "
    "the word regex they were trained with. CoNLL --input is taken as already tokenised")


def _parser():
    parser = argparse.ArgumentParser(prog="seqtasks", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def recipe_args(p):
        p.add_argument("recipe", help="recipe YAML file")
        p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a recipe key, e.g. --set train.epochs=5 (repeatable)")
        p.add_argument("--data-root", help="folder holding the data cards' files")

    p = sub.add_parser("train", help="train a recipe and print its metrics")
    recipe_args(p)
    p.add_argument("--output", help="run directory (default runs/<recipe name>)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run")
    p = sub.add_parser("evaluate", help="score a run directory (several: their ensemble) on a split")
    p.add_argument("run_dir", nargs="+", help="run directory; several are scored as one ensemble")
    p.add_argument("--split", default="test", choices=SPLITS,
                   help="the split of the run's data to score (default test; dev = validation)")
    p.add_argument("--input", metavar="FILE",
                   help="score on this file instead (read like the run's training data, e.g. FILE.conllu "
                        "for a UD tagger); no train split needed")
    p.add_argument("--data-root")
    p = sub.add_parser("predict", help="tag or classify raw text with a run directory")
    p.add_argument("run_dir")
    p.add_argument("texts", nargs="*", help=PREDICT_TEXTS_HELP + "; or use --input")
    p.add_argument("--input", help="file: one raw text per line (a blank line gives a blank output "
                                   "line), or CoNLL (tokens in the first column, blank line between "
                                   "sentences) when --input-format conll")
    p.add_argument("--input-format", choices=["text", "conll"], default=None,
                   help="default: conll for *.conll/*.conllu/*.bio files, else text")
    p.add_argument("--format", choices=["text", "conll", "json"], default="text")
    p.add_argument("--tag-scheme", choices=SCHEME_NAMES, default=None,
                   help="span taggers: write the tags in this scheme (default: the scheme "
                        "the model was trained in, data.target_scheme)")
    p.add_argument("--ensemble", action="append", default=[], metavar="RUN_DIR",
                   help="another run of the same task to average with RUN_DIR (repeatable)")
    p = sub.add_parser("generate", help="sample texts from a language model's run directory")
    p.add_argument("run_dir")
    p.add_argument("--prompt", default=None, help="text to continue (default: start from nothing)")
    p.add_argument("--num", type=int, default=10, help="number of texts (default 10)")
    p.add_argument("--max-length", type=int, default=200, help="most tokens per text (default 200)")
    p.add_argument("--temperature", type=float, default=1.0, help="0 = always the most probable token")
    p.add_argument("--top-k", type=int, default=0, help="sample among the K most probable tokens (0 = all)")
    p.add_argument("--top-p", type=float, default=1.0,
                   help="sample among the most probable tokens holding P of the probability, in (0, 1]")
    p.add_argument("--seed", type=int, default=0, help="the same seed gives the same texts")
    p.add_argument("--condition", default=None, metavar="LABEL",
                   help="the class to generate (models trained with data.condition, e.g. a language: Russian)")
    p = sub.add_parser("translate", help="translate raw text with a translator's run directory")
    p.add_argument("run_dir")
    p.add_argument("texts", nargs="*", help="source texts; or use --input")
    p.add_argument("--input", help="file: one source text per line (an empty line gives an empty line)")
    p.add_argument("--beam", type=int, default=None,
                   help="beam size (default: the recipe's evaluate.beam_size; 1 = greedy)")
    p.add_argument("--nbest", type=int, default=1, help="hypotheses per text, at most --beam (default 1)")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument("--attention", metavar="PNG", help="draw the attention map of the first text here")
    p = sub.add_parser("baseline", help="the task kind's baseline (classification: TF-IDF + logistic "
                                        "regression; language models: Kneser-Ney n-gram) on a recipe's data")
    recipe_args(p)
    p = sub.add_parser("show", help="print the resolved recipe (every default filled in)")
    recipe_args(p)
    p = sub.add_parser("data", help="data cards: list or verify")
    data_sub = p.add_subparsers(dest="data_command", required=True)
    data_sub.add_parser("list", help="list the data cards")
    v = data_sub.add_parser("verify", help="check checksums and counts (exit 1 on mismatch)")
    v.add_argument("name", nargs="?")
    v.add_argument("--data-root")
    return parser


def main(argv=None):
    """Runs the CLI; returns the exit code (2: bad input, one line on stderr)."""
    from seqtasks.backend import quiet_environment
    from seqtasks.memory_allocator import keep_freed_memory

    quiet_environment()  # before anything imports TensorFlow
    keep_freed_memory()  # before TensorFlow allocates: fewer page faults per step
    args = _parser().parse_args(argv)
    # seqtasks' own progress at INFO; other libraries' INFO lines ("TensorFlow
    # version 2.21.0 available." from datasets) stay out of the log.
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    logging.getLogger("seqtasks").setLevel(logging.INFO)
    try:
        return COMMANDS[args.command](args) or 0
    except SeqtasksError as err:
        return _fail(str(err))
    except OSError as err:  # a full disk, a read-only folder: the user's to fix, not a bug
        message = environment_error(err)
        if message is None:
            raise
        return _fail(message)


def _fail(message):
    # One line, even when a message quotes a multi-line value.
    print(f"seqtasks: error: {' '.join(message.split())}", file=sys.stderr)
    return 2


def _check_runs(directories):
    """Each run directory checked (cheap: no TensorFlow yet)."""
    from seqtasks import run_dir as rd

    return [rd.check_run_dir(d) for d in directories]


def _check_file(path, what):
    path = Path(path)
    if path.is_dir():
        raise SeqtasksError(f"{path}: is a folder; expected {what}")
    if not path.exists():
        raise SeqtasksError(f"{path}: {what} not found")


def _train(args):
    from seqtasks import api

    run = api.train(args.recipe, args.overrides, output=args.output, data_root=args.data_root,
                         resume=args.resume)
    print(_summary(run.metrics))
    print(f"run directory: {run.directory}")


def _summary(metrics):
    lines = []
    for split in ("train", "validation", "test"):
        if split in metrics:
            scores = {k: v for k, v in metrics[split].items() if isinstance(v, float)}
            lines.append(f"{split}: " + "  ".join(f"{k}={v:.4f}" for k, v in scores.items()))
    if "baseline" in metrics:
        baseline = metrics["baseline"]
        split = "test" if "test" in baseline else "validation"
        b = baseline.get(split, {})
        lines.append(f"baseline ({baseline.get('name', 'tf-idf + logistic regression')}) {split}: "
                     + "  ".join(f"{k}={v:.4f}" for k, v in b.items() if isinstance(v, float)))
    trained_on = "train + dev" if metrics.get("train_with_dev") else "train"
    lines.append(f"{trained_on}: {metrics['train_seconds']:.0f} s, {metrics['epochs_run']} epochs, "
                 f"{metrics['train_tokens_per_second']:.0f} tokens/s; predict "
                 f"{metrics['predict_tokens_per_second']:.0f} tokens/s; padding "
                 f"{metrics['padding_fraction']:.3f}")
    return "\n".join(lines)


def _evaluate(args):
    split = SPLIT_ALIASES.get(args.split, args.split)
    _check_runs(args.run_dir)
    if args.input:
        _check_file(args.input, "a data file to evaluate on")
    from seqtasks import api
    from seqtasks.backend import import_keras

    import_keras()
    runs = args.run_dir if len(args.run_dir) > 1 else args.run_dir[0]
    scores = api.evaluate(runs, split, data=args.input, data_root=args.data_root)
    print(json.dumps({args.input or split: scores}, indent=2))


PREDICT_CHUNK = 2000  # inputs predicted and printed at a time


def _predict(args):
    import time

    start = time.perf_counter()  # the speed line counts loading TensorFlow and the model too
    from seqtasks.inputs import check_texts

    check_texts(args.texts)
    if not args.texts and not args.input:
        raise SeqtasksError("predict: give texts as arguments or a file with --input")
    if args.input:
        _check_file(args.input, "an input file (one text per line, or CoNLL)")
    directories = _check_runs([args.run_dir, *args.ensemble])
    if args.tag_scheme:
        _check_tag_scheme(directories, args.tag_scheme)
    from seqtasks import api
    from seqtasks.backend import import_keras
    from seqtasks.inputs import read_inputs

    import_keras()
    model = api.load(directories if args.ensemble else directories[0])
    inputs = read_inputs(args.texts, args.input, args.input_format, model.feature_columns())
    options = {"tag_scheme": args.tag_scheme} if args.tag_scheme else {}
    loaded = time.perf_counter() - start
    # In chunks, each printed before the next is predicted: memory stays
    # bounded by a chunk's results however long the input (issue 25). A blank
    # input line keeps its place: one output line (CoNLL: block) per input line.
    examples = tokens = 0
    for first in range(0, len(inputs), PREDICT_CHUNK):
        chunk = inputs[first: first + PREDICT_CHUNK]
        given = [i for i, item in enumerate(chunk) if item is not None]
        results = model.predict([chunk[i] for i in given], **options) if given else []
        examples += len(results)
        # `tokens`: a tagger's token list, a language model's count of scored tokens.
        tokens += sum(len(t) if isinstance(t, (list, tuple)) else int(t)
                      for t in (r.get("tokens") for r in results) if t is not None)
        out = ["{}" if args.format == "json" else ""] * len(chunk)
        for i, result in zip(given, results):
            out[i] = model.kind.format_results([result], args.format)
        if first and args.format == "conll":
            print()  # the blank line between sentences that joins the chunks
        print(("\n\n" if args.format == "conll" else "\n").join(out), flush=True)
    print(_speed_line(examples, tokens, loaded, time.perf_counter() - start), file=sys.stderr)


def _check_tag_scheme(directories, tag_scheme):
    """`--tag-scheme` needs span taggers; read from recipe.yaml before the model loads."""
    from seqtasks.config.recipe import Recipe
    from seqtasks.registry import TASKS

    for directory in directories:
        recipe = Recipe.from_yaml(directory / "recipe.yaml")
        if TASKS.get(recipe.task) != "tagging" or not recipe.data.target_scheme:
            raise SeqtasksError(
                f"{directory}: tag_scheme {tag_scheme!r} needs a tagger trained with a "
                "span scheme (data.target_scheme), this model has none")


def _speed_line(examples, tokens, loaded, seconds):
    """`predict`'s speed on stderr (stdout holds only the predictions)."""
    unit, count = ("tokens", tokens) if tokens else ("examples", examples)
    return (f"predicted {examples:,} examples, {count:,} {unit} in {seconds:.1f} s: "
            f"{count / max(seconds, 1e-9):,.0f} {unit}/s including start-up "
            f"({loaded:.1f} s loading the back end, the model and the input)")


def _generate(args):
    _check_runs([args.run_dir])
    from seqtasks import api
    from seqtasks.backend import import_keras

    import_keras()

    texts = api.load(args.run_dir).generate(args.prompt, args.num, args.max_length, args.temperature,
                                            args.top_k, args.top_p, args.seed, condition=args.condition)
    # One text per line; texts that span lines (Shakespeare) apart by a blank line.
    print(("\n\n" if any("\n" in t for t in texts) else "\n").join(texts))


def _translate(args):
    from seqtasks import api
    from seqtasks.data.text_files import read_text_lines

    if args.beam is not None and args.beam < 1 or args.nbest < 1:
        raise SeqtasksError(f"translate: expected --beam >= 1 and --nbest >= 1, found {args.beam} and {args.nbest}")
    texts = list(args.texts) + (read_text_lines(args.input) if args.input else [])
    if not texts:
        raise SeqtasksError("translate: give texts or --input FILE")
    model = api.load(args.run_dir)
    results = model.translate(texts, beam=args.beam, nbest=args.nbest, attention=args.attention)
    print(model.kind.format_results(results, args.format))


def _baseline(args):
    from seqtasks import api
    from seqtasks.data.prepare import prepare_data
    from seqtasks.registry import task_kind

    recipe = api.resolve_recipe(args.recipe, args.overrides, args.data_root)
    recipe.evaluate.baseline = True
    kind = task_kind(recipe.task)
    if kind.baseline is None:
        raise SeqtasksError(f"{args.recipe}: task '{recipe.task}' has no baseline")
    dataset, _, _ = prepare_data(recipe)
    result = kind.extra_metrics(recipe, dataset)["baseline"]
    print(json.dumps({k: ({m: v for m, v in s.items() if m != "report"} if isinstance(s, dict) else s)
                      for k, s in result.items()}, indent=2))


def _show(args):
    from seqtasks import api

    print(api.resolve_recipe(args.recipe, args.overrides, args.data_root).to_yaml(), end="")


def _data(args):
    from seqtasks.data import cards
    from seqtasks.data.card_data import verify_card

    if args.data_command == "list":
        print(cards.format_card_table())
        return 0
    chosen = [cards.load_card(args.name)] if args.name else cards.list_cards()
    failed = 0
    for card in chosen:
        problems = verify_card(card, args.data_root)
        print(f"{card.name}: {'ok' if not problems else 'FAILED'}")
        for problem in problems:
            print(f"  {problem}")
        failed += bool(problems)
    return 1 if failed else 0


COMMANDS = {"train": _train, "evaluate": _evaluate, "predict": _predict, "generate": _generate,
            "translate": _translate,
            "baseline": _baseline,
            "show": _show, "data": _data}
