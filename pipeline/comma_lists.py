"""A doccano corpus with its vessel lists written with commas: every ； of a text becomes ，.

Most coronary reports close each vessel's findings with ；, some write the same list with
commas, as one long sentence. This writes a copy of a corpus in that style, to measure how a
model holds up on it (`cbrrel eval --model DIR --data OUT`; BENCHMARKS.md, "Vessel lists
written with commas"). It is the change `train.comma_lists` shows a share of the training
reports (src/train/augment.rs): one character for one, so every annotation's offsets stay valid
and the annotations are kept as they are. Every other field of a line is written back as read.

Standard library only; prints how many records and how many were changed:

    python3 pipeline/comma_lists.py runs/cv/fold-3/test.jsonl /tmp/test.commas.jsonl
"""

import json
import sys

LIST_MARK = "；"
COMMA = "，"


def rewrite(source, target):
    """Write `source`'s records to `target` with every ； of a text as ，: (records, changed)."""
    records = changed = 0
    lines = []
    with open(source, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                sys.exit(f"{source}:{number}: not JSON ({e})")
            text = record.get("text")
            if not isinstance(text, str):
                sys.exit(f"{source}:{number}: no \"text\" string")
            records += 1
            if LIST_MARK in text:
                record["text"] = text.replace(LIST_MARK, COMMA)
                changed += 1
            lines.append(json.dumps(record, ensure_ascii=False))
    with open(target, "w", encoding="utf-8") as out:
        out.write("".join(line + "\n" for line in lines))
    return records, changed


def main(argv):
    if len(argv) != 3:
        sys.exit("usage: comma_lists.py IN.jsonl OUT.jsonl")
    records, changed = rewrite(argv[1], argv[2])
    print(f"{records} records, {changed} with ； written as ，")


if __name__ == "__main__":
    main(sys.argv)
