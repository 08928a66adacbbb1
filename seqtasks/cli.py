"""Command line: parses arguments and calls the API's functions (`seqtasks.api`).

```
seqtasks train RECIPE [--output DIR] [--set key=value ...] [--data-root DIR] [--resume]
seqtasks evaluate RUN_DIR [RUN_DIR ...] [--split test] [--data-root DIR]
seqtasks predict RUN_DIR [TEXT ...] [--input FILE] [--format text|conll|json] [--tag-scheme IOB2]
                 [--ensemble RUN_DIR ...]
seqtasks generate RUN_DIR [--prompt TEXT] [--num N] [--max-length L] [--temperature T] [--top-k K]
                  [--top-p P] [--seed S]
seqtasks translate RUN_DIR [TEXT ...] [--input FILE] [--beam N] [--nbest K] [--format text|json]
                   [--attention out.png]
seqtasks baseline RECIPE [--set key=value ...] [--data-root DIR]
seqtasks show RECIPE [--set key=value ...]
seqtasks data list | seqtasks data verify [NAME] [--data-root DIR]
```
Input errors print one line and exit with code 2 (no traceback).
"""

import argparse
import json
import logging
import os
import sys

from seqtasks.data.schemes import SCHEME_NAMES
from seqtasks.errors import SeqtasksError


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
    p.add_argument("--split", default="test")
    p.add_argument("--data-root")
    p = sub.add_parser("predict", help="tag or classify raw text with a run directory")
    p.add_argument("run_dir")
    p.add_argument("texts", nargs="*", help="raw texts (tokenised); or use --input")
    p.add_argument("--input", help="file: one text per line, or CoNLL (tokens in the first column, "
                                   "blank line between sentences) when --input-format conll")
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
    """Runs the CLI; returns the exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        return COMMANDS[args.command](args) or 0
    except SeqtasksError as err:
        print(f"seqtasks: error: {err}", file=sys.stderr)
        return 2


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
    from seqtasks import api

    runs = args.run_dir if len(args.run_dir) > 1 else args.run_dir[0]
    scores = api.evaluate(runs, args.split, data_root=args.data_root)
    print(json.dumps({args.split: scores}, indent=2))


def _predict(args):
    from seqtasks import api
    from seqtasks.inputs import read_inputs

    model = api.load([args.run_dir, *args.ensemble] if args.ensemble else args.run_dir)
    inputs = read_inputs(args.texts, args.input, args.input_format, model.feature_columns())
    options = {"tag_scheme": args.tag_scheme} if args.tag_scheme else {}
    print(model.kind.format_results(model.predict(inputs, **options), args.format))


def _generate(args):
    from seqtasks import api

    texts = api.load(args.run_dir).generate(args.prompt, args.num, args.max_length, args.temperature,
                                            args.top_k, args.top_p, args.seed)
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
