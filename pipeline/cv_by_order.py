"""Where in the corpus a cross-validation's errors sit, and what an annotation convention costs.

Issue 13 asks for annotation inconsistencies to be counted, not fixed. `cbrrel cv` files every
error under a cause (src/eval/errors.rs); this script asks two questions of a finished
cross-validation folder that the cause table cannot answer:

1. Do the errors cluster by the position of the report in the corpus file? doccano exports
   by id, roughly the order the reports were imported and annotated, so a stretch of reports
   annotated under other conventions — an early phase of the annotation, another annotator —
   shows up as a block of the file whose reports score lower than the rest on every fold's
   model. The table pools the folds' test reports by block of the file (`--blocks`, 5 by
   default: each block a fifth of the reports).
2. What a boundary convention costs: `--both-ways TYPE:SIDE:AFFIX` (e.g. `Tm:start:<affix>`,
   types Bp Sy Tm Do Mc In, side start or end) scores again with that affix accepted on either
   side of the boundary — an entity of that type whose text begins (ends) with it is compared
   without it, in the gold and in the predictions alike — and counts, by block, the gold
   entities that hold the affix and those that have it right outside. A convention whose two
   ways fall in different blocks is a change of convention during the annotation, which no
   model reading one report can follow.

Scoring is `cbrrel eval`'s: exact (subject text, relation, object text) triples, a set per
report (§4.3), so the per-fold F1 "as written" equals the fold's scores.json (the test suite
holds the two equal). Standard library only; reads `CV/cv.json` (the source corpus),
`CV/fold-N/test.jsonl` and `CV/fold-N/test.pred.jsonl` of every finished fold (one with its
`scores.json`, as `cbrrel cv` counts them); writes nothing; prints a Markdown
report and quotes no report text (the affixes are the user's own arguments):

    python3 pipeline/cv_by_order.py runs/cv [--blocks 5] [--both-ways Tm:start:AFFIX …] [--data FILE]
"""

import argparse
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cv_commas import folds as finished_folds  # noqa: E402  (a fold is done once scored)

TYPES = {
    "Bp": "身体部位",
    "Sy": "症状体征",
    "Tm": "治疗方式",
    "Do": "用药剂量",
    "Mc": "医疗耗材",
    "In": "检查检验",
}


def convention(spec):
    parts = spec.split(":", 2)
    if len(parts) != 3 or parts[0] not in TYPES or parts[1] not in ("start", "end") or not parts[2]:
        raise argparse.ArgumentTypeError(
            f"{spec!r}: expected TYPE:SIDE:AFFIX with TYPE one of {', '.join(TYPES)} and SIDE start or end"
        )
    return (TYPES[parts[0]], parts[1], parts[2], spec)


def read_jsonl(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as e:
                sys.exit(f"{path}:{n}: not JSON ({e})")
    return out


def holds(span, side, affix):
    """Whether the span holds the affix at that side (and more than the affix)."""
    if len(span) <= len(affix):
        return False
    return span.startswith(affix) if side == "start" else span.endswith(affix)


def entity_text(rec, e, conventions):
    """The entity's text, with each accepted-both-ways affix of its type taken off its side."""
    text = rec["text"][e["start_offset"]:e["end_offset"]]
    for label, side, affix, _ in conventions:
        if e["label"] == label and holds(text, side, affix):
            text = text[len(affix):] if side == "start" else text[: -len(affix)]
    return text


def triples(rec, conventions):
    ents = {e["id"]: e for e in rec.get("entities", [])}
    out = set()
    for r in rec.get("relations", []):
        a, b = ents.get(r["from_id"]), ents.get(r["to_id"])
        if a is None or b is None:
            continue
        out.add((entity_text(rec, a, conventions), r["type"], entity_text(rec, b, conventions)))
    return out


def prf(tp, fp, fn):
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return 100 * p, 100 * r, 100 * f


def mean_sd(xs):
    if not xs:
        return "–"
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return f"{statistics.mean(xs):.2f} ± {sd:.2f}"


def affix_ways(rec, label, side, affix):
    """(gold entities holding the affix at that side, gold entities with it right outside)."""
    text, inside, outside = rec["text"], 0, 0
    for e in rec.get("entities", []):
        if e["label"] != label:
            continue
        s, t = e["start_offset"], e["end_offset"]
        if holds(text[s:t], side, affix):
            inside += 1
        elif side == "start" and text[max(0, s - len(affix)):s] == affix:
            outside += 1
        elif side == "end" and text[t:t + len(affix)] == affix:
            outside += 1
    return inside, outside


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("cv", help="a cross-validation folder written by cbrrel cv")
    ap.add_argument("--blocks", type=int, default=5, help="blocks of the corpus file (default 5)")
    ap.add_argument("--both-ways", type=convention, action="append", default=[], metavar="TYPE:SIDE:AFFIX")
    ap.add_argument("--data", help="the corpus the folds were cut from (default: cv.json's source)")
    a = ap.parse_args()
    if a.blocks < 1:
        sys.exit("--blocks must be at least 1")

    source = a.data
    if source is None:
        try:
            with open(os.path.join(a.cv, "cv.json"), encoding="utf-8") as f:
                source = json.load(f)["source"]
        except (OSError, KeyError, json.JSONDecodeError) as e:
            sys.exit(f"{a.cv}/cv.json: cannot read the source corpus ({e}); pass --data")
    corpus = read_jsonl(source)
    order = {}
    for i, r in enumerate(corpus):
        order.setdefault(r["id"], i)
    n = len(corpus)
    if n == 0:
        sys.exit(f"{source}: no records")
    a.blocks = min(a.blocks, n)
    size = -(-n // a.blocks)
    a.blocks = -(-n // size)  # 10 reports in 6 blocks of 2 are 5 blocks
    block_of = lambda i: min(i // size, a.blocks - 1)

    folds = finished_folds(a.cv)
    if not folds:
        sys.exit(f"{a.cv}: no finished fold (no fold-N/scores.json: has the cross-validation run?)")

    variants = [("as written", [])]
    if a.both_ways:
        variants.append(("both ways: " + ", ".join(c[3] for c in a.both_ways), a.both_ways))
    per_fold = {name: [] for name, _ in variants}
    blocks = {name: [[0, 0, 0, 0] for _ in range(a.blocks)] for name, _ in variants}  # tp fp fn reports
    gold_per_block = [0] * a.blocks
    unknown = 0
    for _, d in folds:
        gold = {r["id"]: r for r in read_jsonl(os.path.join(d, "test.jsonl"))}
        preds = {r["id"]: r for r in read_jsonl(os.path.join(d, "test.pred.jsonl"))}
        missing = set(gold) - set(preds)
        if missing:
            sys.exit(f"{d}: {len(missing)} test reports without a prediction (e.g. id {min(missing)})")
        for name, conv in variants:
            tp = fp = fn = 0
            for rid, g in gold.items():
                gt, pt = triples(g, conv), triples(preds[rid], conv)
                x = (len(gt & pt), len(pt - gt), len(gt - pt))
                tp, fp, fn = tp + x[0], fp + x[1], fn + x[2]
                if rid not in order:
                    unknown += name == "as written"
                    continue
                b = blocks[name][block_of(order[rid])]
                b[0], b[1], b[2], b[3] = b[0] + x[0], b[1] + x[1], b[2] + x[2], b[3] + 1
                if name == "as written":
                    gold_per_block[block_of(order[rid])] += len(gt)
            per_fold[name].append(prf(tp, fp, fn)[2])
    if unknown:
        print(f"warning: {unknown} test reports are not in {source}; left out of the blocks", file=sys.stderr)

    print(f"{len(folds)} folds of {a.cv}; {n} reports in {source}, {a.blocks} blocks of {size} in file order\n")
    print("| | F1 per fold | mean ± sd |")
    print("|---|---|--:|")
    for name, _ in variants:
        fs = per_fold[name]
        print(f"| {name} | {', '.join(f'{x:.2f}' for x in fs)} | {mean_sd(fs)} |")
    print()
    head = "| reports (file order) | test reports | gold |"
    rule = "|---|--:|--:|"
    for name, _ in variants:
        head += f" {name}: P / R / F1 |"
        rule += "--:|"
    print(head)
    print(rule)
    for i in range(a.blocks):
        lo, hi = i * size, min(n, (i + 1) * size) - 1
        row = f"| {lo}–{hi} | {blocks['as written'][i][3]} | {gold_per_block[i]} |"
        for name, _ in variants:
            tp, fp, fn, _ = blocks[name][i]
            if tp + fp + fn == 0:  # no test report here, or nothing gold or predicted
                row += " – |"
                continue
            p, r, f = prf(tp, fp, fn)
            row += f" {p:.2f} / {r:.2f} / **{f:.2f}** |"
        print(row)
    for label, side, affix, spec in a.both_ways:
        ins, outs = [0] * a.blocks, [0] * a.blocks
        for i, r in enumerate(corpus):
            x, y = affix_ways(r, label, side, affix)
            ins[block_of(i)] += x
            outs[block_of(i)] += y
        print(f"\n{spec}: gold entities of the whole corpus by block, affix inside / right outside the {side}")
        print("| reports (file order) | inside | outside |")
        print("|---|--:|--:|")
        for i in range(a.blocks):
            lo, hi = i * size, min(n, (i + 1) * size) - 1
            print(f"| {lo}–{hi} | {ins[i]} | {outs[i]} |")


if __name__ == "__main__":
    main()
