"""How consistently a doccano corpus annotates McBp (a consumable sent to a body part).

Issue 13's goal asks every relation with at least 50 gold triples to reach 90 F1; McBp stays
near 85 on the cross-validation folds whatever the model or decoder (BENCHMARKS.md). This
script measures the gold itself: every consumable entity written right before 至 ("to": 送X至
前降支远端, X sent to a place) is a device the report sends somewhere, so whether the corpus
pairs it with a body part (McBp) is a fact of the annotation, not of any model. It prints,
by kind of device (the word its name ends in), how many such entities there are and how many
are McBp subjects, and, for the reports that send a guide wire or a catheter somewhere, whether
they annotate all, some or none of those as McBp.

Standard library only; reads the corpus, writes nothing, quotes no text:

    python3 pipeline/mcbp_consistency.py ../shared/data/coronary_angiography/reports.jsonl
"""

import json
import sys
from collections import Counter

CONSUMABLE = "医疗耗材"
MCBP = "医疗耗材_身体部位"
SENT_TO = "至"
# The device kinds, by the word in the entity's name: guide wire, catheter, balloon, stent.
KINDS = [("导丝", "guide wire"), ("导管", "catheter"), ("球囊", "balloon"), ("支架", "stent")]


def kind_of(name):
    for word, kind in KINDS:
        if word in name:
            return kind
    return "other"


def main(path):
    entities, subjects = Counter(), Counter()
    reports = Counter()
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            text = r["text"]
            mcbp = {x["from_id"] for x in r.get("relations", []) if x["type"] == MCBP}
            sent, annotated = 0, 0
            for e in r.get("entities", []):
                if e["label"] != CONSUMABLE or text[e["end_offset"]:e["end_offset"] + 1] != SENT_TO:
                    continue
                kind = kind_of(text[e["start_offset"]:e["end_offset"]])
                entities[kind] += 1
                subjects[kind] += e["id"] in mcbp
                if kind in ("guide wire", "catheter"):
                    sent += 1
                    annotated += e["id"] in mcbp
            if sent:
                reports["all" if annotated == sent else "none" if annotated == 0 else "some"] += 1
    print("| device sent 至 a place | entities | McBp subjects | share |")
    print("|---|--:|--:|--:|")
    for _, kind in KINDS + [(None, "other")]:
        n = entities[kind]
        share = f"{100 * subjects[kind] / n:.1f} %" if n else "–"
        print(f"| {kind} | {n} | {subjects[kind]} | {share} |")
    total = sum(reports.values())
    print()
    print(f"Reports that send a guide wire or catheter somewhere: {total}; McBp annotated for "
          f"all of those devices in {reports['all']}, some in {reports['some']}, "
          f"none in {reports['none']}.")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: mcbp_consistency.py REPORTS.jsonl")
    main(sys.argv[1])
