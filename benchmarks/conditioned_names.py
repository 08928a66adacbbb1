"""How often does the surname classifier agree with the language a name was generated for?

Generates `--num` surnames per language from a class-conditioned language model
(`recipes/lm_names_18lang_conditioned_char_gru.yaml`) and classifies them with
the surname classifier (`recipes/language_names_char_gru.yaml`). Prints one
line per language (agreement, a few samples) and the overall agreement, beside
chance (1/18) and the share of generated names that occur in the training data.

Usage:
    python benchmarks/conditioned_names.py LM_RUN CLASSIFIER_RUN [--num 100] [--temperature 1.0] [--seed 0]
"""

import argparse
import json

import seqtasks


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lm_run")
    parser.add_argument("classifier_run")
    parser.add_argument("--num", type=int, default=100, help="names generated per language")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)

    lm, classifier = seqtasks.load(args.lm_run), seqtasks.load(args.classifier_run)
    languages = lm.preprocessor.labels
    train_names = set()
    from seqtasks.data.prepare import prepare_data

    dataset, _, _ = prepare_data(lm.recipe)
    train_names = set(dataset["train"]["text"])
    rows, agree, total, copied = [], 0, 0, 0
    for language in languages:
        names = [n for n in lm.generate(num=args.num, max_length=30, temperature=args.temperature,
                                        seed=args.seed, condition=language) if n]
        predicted = [r["label"] for r in classifier.predict([list(n) for n in names])] if names else []
        hits = sum(p == language for p in predicted)
        agree, total = agree + hits, total + len(names)
        copied += sum(n in train_names for n in names)
        rows.append({"language": language, "generated": len(names), "agree": hits / max(len(names), 1),
                     "samples": names[:5]})
        print(f"{language:<11} {hits / max(len(names), 1):6.1%}  {', '.join(names[:5])}")
    summary = {"agreement": agree / max(total, 1), "chance": 1 / len(languages),
               "in_training_data": copied / max(total, 1), "names": total, "temperature": args.temperature,
               "per_language": rows}
    print(f"overall agreement {summary['agreement']:.1%} of {total} names (chance {summary['chance']:.1%}); "
          f"{summary['in_training_data']:.1%} of them occur in the training names")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(summary, f, indent=2, ensure_ascii=False)


if __name__ == "__main__":
    main()
