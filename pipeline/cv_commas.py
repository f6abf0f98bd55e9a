"""A cross-validation's fold models on their test reports with the vessel lists written with commas.

The cross-validation scores each fold's model on its test reports as the corpus writes them
(mostly one `；` per vessel). Some reports write the same lists with commas, as one long
sentence, and that costs a model trained on the corpus ≈ 10 F1 (BENCHMARKS.md, "Vessel lists
written with commas"). This puts both numbers side by side for every fold of a folder that
trained its own models (CV/fold-N/model, tuned on the fold's dev set as `cbrrel cv` leaves it):

- writes CV/fold-N/test.commas.jsonl (pipeline/comma_lists.py's rewrite: ； → ，, offsets and
  annotations unchanged);
- scores the fold's model on it: `cbrrel eval --model CV/fold-N/model --report CV/fold-N/commas`
  (skipped when CV/fold-N/commas/eval.json is newer than the model and the rewritten test, so an
  interrupted run resumes);
- prints a Markdown table: per fold F1 as written (CV/fold-N/scores.json, the cross-validation's
  own score) and with commas, and BpSy's recall with commas (a vessel's findings: the relation
  comma lists cost most), then the means over the folds.

A folder scored with another folder's models (`cv --models-from`) is refused: its decoding was
tuned into tuning.json, which the model directory it names does not carry.

Standard library only (the model runs in the cbrrel binary):

    python3 pipeline/cv_commas.py runs/cv-variant-distance16 [--bin target/release/cbrrel]
"""

import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import comma_lists  # noqa: E402  (the rewrite itself, one definition)


def folds(cv):
    """The fold folders of `cv` that hold a finished score, by fold number."""
    found = []
    for name in os.listdir(cv):
        path = os.path.join(cv, name)
        if name.startswith("fold-") and name[5:].isdigit() and os.path.isdir(path):
            if os.path.exists(os.path.join(path, "scores.json")):
                found.append((int(name[5:]), path))
    return sorted(found)


def newer(path, *than):
    return os.path.exists(path) and all(
        os.path.getmtime(path) >= os.path.getmtime(t) for t in than
    )


def score_commas(binary, fold_dir):
    """The fold model's eval.json on the comma-written test reports (computed unless current)."""
    model = os.path.join(fold_dir, "model")
    weights = os.path.join(model, "model.safetensors")
    if not os.path.exists(weights):
        sys.exit(
            f"{fold_dir}: no model of its own (scored with `cv --models-from`?); "
            "give the folder that trained the models"
        )
    test = os.path.join(fold_dir, "test.jsonl")
    rewritten = os.path.join(fold_dir, "test.commas.jsonl")
    report = os.path.join(fold_dir, "commas")
    scores = os.path.join(report, "eval.json")
    if not newer(rewritten, test):
        partial = rewritten + ".partial"
        records, changed = comma_lists.rewrite(test, partial)
        os.replace(partial, rewritten)  # a half-written copy is never taken for a finished one
        print(f"{rewritten}: {records} records, {changed} with ； written as ，", file=sys.stderr)
    if not newer(scores, weights, rewritten):
        subprocess.run(
            [binary, "eval", "--model", model, "--data", rewritten, "--report", report],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    with open(scores, encoding="utf-8") as f:
        return json.load(f)


def main(argv):
    args = argv[1:]
    binary = "target/release/cbrrel"
    if "--bin" in args:
        i = args.index("--bin")
        if i + 1 >= len(args):
            sys.exit("--bin needs the cbrrel binary's path")
        binary = args[i + 1]
        del args[i : i + 2]
    if len(args) != 1:
        sys.exit("usage: cv_commas.py CV_FOLDER [--bin target/release/cbrrel]")
    cv = args[0]
    if not os.path.isdir(cv):
        sys.exit(f"{cv}: not a folder")
    found = folds(cv)
    if not found:
        sys.exit(f"{cv}: no finished fold (fold-N/scores.json)")
    rows = []
    for number, fold_dir in found:
        with open(os.path.join(fold_dir, "scores.json"), encoding="utf-8") as f:
            written = json.load(f)
        if written.get("model_from"):
            sys.exit(
                f"{fold_dir}: scored with {written['model_from']} (`cv --models-from`); "
                "give the folder that trained the models"
            )
        commas = score_commas(binary, fold_dir)
        bpsy = commas["per_relation"].get("BpSy", {}).get("recall", float("nan"))
        rows.append((number, 100 * written["overall"]["f1"], 100 * commas["f1"], 100 * bpsy))
    print(f"{cv}: {len(rows)} fold(s)\n")
    print("| fold | F1 as written | F1 with comma lists | BpSy recall with comma lists |")
    print("|--:|--:|--:|--:|")
    for number, a, b, r in rows:
        print(f"| {number} | {a:.2f} | {b:.2f} | {r:.1f} % |")
    means = [statistics.mean(column) for column in list(zip(*rows))[1:]]
    print(f"| mean | {means[0]:.2f} | {means[1]:.2f} | {means[2]:.1f} % |")


if __name__ == "__main__":
    main(sys.argv)
