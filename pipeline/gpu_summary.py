"""The numbers of one `pipeline/gpu_check.sh` run, as summary.json and a Markdown table on
stdout (what BENCHMARKS.md takes). Usage: python gpu_summary.py OUT_DIR DEVICE PEAK_TFLOPS.

Reads what the check's steps wrote into OUT_DIR: info.json, steps.jsonl, m3e/metrics.jsonl,
extract.json, eval-big-B.json/.stderr, flops.json, and the nvidia-smi samples (*.gpu-mem, MiB).
A step that failed or did not run shows as missing, never as a number. Standard library only
(the GPU machine's torch venv has nothing else).
"""

import json
import re
import sys
from pathlib import Path


def read_json(path):
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def read_jsonl(path):
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    return [json.loads(line) for line in lines if line.strip()]


def peak_mib(out, step):
    """Largest nvidia-smi sample during a step (MiB), or None without samples."""
    try:
        values = [int(v) for v in Path(out, f"{step}.gpu-mem").read_text().split() if v.strip().isdigit()]
    except OSError:
        return None
    return max(values) if values else None


def eval_rate(out, batch):
    """Segments/s of `cbrrel eval --model`, from the line it prints on stderr."""
    try:
        text = Path(out, f"eval-big-{batch}.stderr").read_text(encoding="utf-8")
    except OSError:
        return None, None
    m = re.search(r"\((\d+) segments\) in ([\d.]+)s on .*?: ([\d.]+) segments/s", text)
    return (int(m.group(1)), float(m.group(3))) if m else (None, None)


def fmt(v, spec=".1f"):
    return "—" if v is None else format(v, spec)


def main(out, device, peak_tflops):
    out = Path(out)
    steps = {s["step"]: s for s in read_jsonl(out / "steps.jsonl")}
    info = read_json(out / "info.json") or {}
    summary = {"device": device, "info": info, "steps": steps, "peak_tflops": peak_tflops}

    epochs = read_jsonl(out / "m3e" / "metrics.jsonl")
    summary["train_m3e"] = {"epochs": epochs, "peak_gpu_mib": peak_mib(out, "train-m3e")}

    # `cbrrel extract --format json`: the nightly summary, seconds per stage.
    ex = read_json(out / "extract.json") or {}
    sentences, seconds = ex.get("sentences"), (ex.get("seconds") or {}).get("extract")
    summary["extract"] = {
        "reports": ex.get("reports_extracted"),
        "triples": ex.get("triples"),
        "sentences": sentences,
        "seconds": seconds,
        "sentences_per_second": sentences / seconds if sentences and seconds else None,
        "subjects_capped": ex.get("subjects_capped"),
        "peak_gpu_mib": peak_mib(out, "extract"),
    }

    flops = read_json(out / "flops.json") or {}
    per_segment = flops.get("flops_per_segment")
    rows = []
    for step in sorted((s for s in steps if s.startswith("eval-big-")), key=lambda s: int(s.rsplit("-", 1)[1])):
        batch = int(step.rsplit("-", 1)[1])
        segments, rate = eval_rate(out, batch)
        mfu = rate * per_segment / (peak_tflops * 1e12) if rate and per_segment else None
        rows.append(
            {"batch": batch, "segments": segments, "segments_per_second": rate, "mfu": mfu,
             "peak_gpu_mib": peak_mib(out, step)}
        )
    summary["big"] = {"flops": flops, "eval": rows, "train": read_jsonl(out / "big" / "metrics.jsonl"),
                      "train_peak_gpu_mib": peak_mib(out, "train-big")}

    try:
        machine = (out / "gpu-name.txt").read_text(encoding="utf-8").strip()
    except OSError:
        machine = "unknown"
    summary["machine"] = machine
    print(f"## GPU check, device {device}: {machine}; libtorch {info.get('libtorch')}, CUDA devices {info.get('cuda_devices')}\n")
    print("| epoch | train loss | skipped steps | train s | segments/s | dev P | dev R | dev F1 | peak GPU MiB |")
    print("|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for e in epochs:
        print(
            f"| {e.get('epoch')} | {fmt(e.get('train_loss'), '.4f')} | {e.get('skipped_steps')} | "
            f"{fmt(e.get('train_seconds'))} | {fmt(e.get('train_segments_per_second'))} | "
            f"{fmt(100 * e['dev_precision'] if 'dev_precision' in e else None, '.2f')} | "
            f"{fmt(100 * e['dev_recall'] if 'dev_recall' in e else None, '.2f')} | "
            f"{fmt(100 * e['dev_f1'] if 'dev_f1' in e else None, '.2f')} | "
            f"{fmt(summary['train_m3e']['peak_gpu_mib'], 'd')} |"
        )
    x = summary["extract"]
    print(
        f"\nExtraction: {x['reports']} reports, {x['sentences']} sentences, {x['triples']} triples in {fmt(x['seconds'])} s = "
        f"{fmt(x['sentences_per_second'])} sentences/s; subjects capped {x['subjects_capped']}; "
        f"peak GPU {fmt(x['peak_gpu_mib'], 'd')} MiB\n"
    )
    print(
        f"Base-shaped encoder ({flops.get('len')} tokens per segment, "
        f"{fmt(per_segment / 1e9 if per_segment else None, '.2f')} GFLOP per segment; peak {peak_tflops} TFLOP/s):\n"
    )
    print("| batch | segments | segments/s | MFU | peak GPU MiB |")
    print("|--:|--:|--:|--:|--:|")
    for r in rows:
        print(
            f"| {r['batch']} | {r['segments']} | {fmt(r['segments_per_second'])} | "
            f"{fmt(100 * r['mfu'] if r['mfu'] is not None else None, '.3g')} % | {fmt(r['peak_gpu_mib'], 'd')} |"
        )
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    failed = [s for s, v in steps.items() if v.get("rc") != 0]
    if failed:
        print(f"\nFailed steps: {', '.join(failed)}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]))
