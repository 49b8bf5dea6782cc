"""``tagger report``: what the library holds, and whether to trust the model on it.

Everything is computed from the database alone (no file is opened), so a
report of 100,000 tracks takes seconds.  Agreement compares the genre tags
that were in the files before tagger touched them (``tag_genre`` at scan
time) with the predictions, after mapping free text onto the model's genres
through ``genres.canonical``; tags that map to nothing are listed, not guessed.
"""
from __future__ import annotations

import csv
import io
import os
from collections import Counter, defaultdict
from pathlib import Path

from .genres import canonical, spelling_key
from .paths import default_db, printable
from .store import Store

GROUPINGS = ("genre", "folder", "format", "model")


def _key(row: dict, by: str) -> str:
    if by == "folder":
        return os.path.dirname(row["path"])
    return row.get(by) or "(none)"


def build_report(db=None, by: str = "genre", uncertain: int = 10,
                 low_confidence: float = 0.4) -> dict:
    """The report as one JSON-ready dict (``--json`` prints it as is)."""
    if by not in GROUPINGS:
        raise ValueError(by)
    store = Store(default_db(db), create=False)
    try:
        # Not the probability and tag JSON: parsing it for 100,000 rows would
        # cost more than the whole report.
        rows = store.tracks(columns=("path", "format", "model", "genre", "confidence",
                                     "tag_genre", "error", "missing", "written_genre",
                                     "uncertain", "status"))
        scans = store.scans()
    finally:
        store.close()
    present = [r for r in rows if not r["missing"]]
    analysed = [r for r in present if r["error"] is None and r["genre"]]
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in analysed:
        groups[_key(r, by)].append(r)
    table = []
    for key, rs in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        conf = [r["confidence"] for r in rs]
        table.append({by: key, "tracks": len(rs), "share": round(len(rs) / len(analysed), 4),
                      "mean_confidence": round(sum(conf) / len(conf), 4),
                      "low_confidence": sum(c < low_confidence for c in conf),
                      "written": sum(bool(r["written_genre"]) for r in rs)})
    return {
        "db": str(store.path),
        "by": by,
        "totals": {"tracks": len(rows), "analysed": len(analysed),
                   "errors": sum(r["error"] is not None for r in present),
                   # ok, truncated, too_short, silent, error; "unchecked": scanned before
                   # tagger had statuses
                   "statuses": dict(Counter(r["status"] or "unchecked" for r in present)),
                   "missing": len(rows) - len(present),
                   "written": sum(bool(r["written_genre"]) for r in present),
                   "low_confidence": sum(r["confidence"] < low_confidence for r in analysed),
                   "low_confidence_threshold": low_confidence,
                   "abstained": sum(bool(r["uncertain"]) for r in analysed)},
        "groups": table,
        "agreement": agreement(analysed),
        "uncertain": [{"path": r["path"], "genre": r["genre"], "confidence": r["confidence"]}
                      for r in sorted(analysed, key=lambda r: r["confidence"])[:uncertain]],
        # Tracks a trained head abstained on: stored, not written by default.
        "abstained": [{"path": r["path"], "genre": r["genre"], "confidence": r["confidence"]}
                      for r in sorted((r for r in analysed if r["uncertain"]),
                                      key=lambda r: r["confidence"])[:uncertain]],
        "errors": [{"path": r["path"], "error": r["error"]}
                   for r in present if r["error"] is not None][:50],
        "last_scan": scans[-1] if scans else None,
    }


def agreement(rows: list[dict]) -> dict:
    """Existing tags (mapped to canonical genres) against predictions."""
    pairs: Counter[tuple[str, str]] = Counter()
    unmapped: Counter[str] = Counter()
    for r in rows:
        tag = r["tag_genre"]
        if not tag or tag == r.get("written_genre"):
            continue  # no tag, or only the one tagger itself wrote (seen by a --rescan)
        first = tag.split(";")[0].strip()
        # A head trained on the user's genres predicts their own spellings.
        mapped = r["genre"] if spelling_key(first) == spelling_key(r["genre"]) else canonical(first)
        if mapped is None:
            unmapped[first] += 1
            continue
        pairs[(mapped, r["genre"])] += 1
    compared = sum(pairs.values())
    agree = sum(n for (t, p), n in pairs.items() if t == p)
    tags = sorted({t for t, _ in pairs})
    preds = sorted({p for _, p in pairs})
    return {
        "compared": compared,
        "agreeing": agree,
        "rate": round(agree / compared, 4) if compared else None,
        "tag_genres": tags,
        "predicted_genres": preds,
        "matrix": [[pairs[(t, p)] for p in preds] for t in tags],
        "unmapped": dict(unmapped.most_common()),
    }


def to_text(rep: dict) -> str:
    """A table that fits a terminal."""
    t = rep["totals"]
    by = rep["by"]
    lines = [f"{t['tracks']} tracks: {t['analysed']} analysed, {t['errors']} errors, "
             f"{t['missing']} missing, {t['written']} tags written",
             "status: " + (", ".join(f"{n} {k}" for k, n in sorted(t["statuses"].items()))
                           or "no tracks"), ""]
    width = max([len(by)] + [len(str(g[by])) for g in rep["groups"]])
    width = min(width, 48)
    lines.append(f"{by:<{width}}  {'tracks':>7}  {'share':>6}  {'conf':>5}  "
                 f"{'low':>5}  {'written':>7}")
    for g in rep["groups"]:
        name = printable(str(g[by]))
        name = name if len(name) <= width else "..." + name[-(width - 3):]
        lines.append(f"{name:<{width}}  {g['tracks']:>7}  {g['share']:>6.1%}  "
                     f"{g['mean_confidence']:>5.2f}  {g['low_confidence']:>5}  {g['written']:>7}")
    a = rep["agreement"]
    lines.append("")
    if a["compared"]:
        lines.append(f"agreement with existing genre tags: {a['agreeing']}/{a['compared']} "
                     f"({a['rate']:.1%})")
        corner = "tag / predicted"
        w = max(len(x) for x in a["tag_genres"] + [corner])
        lines.append(f"{corner:<{w}}  " + "  ".join(f"{p[:8]:>8}" for p in a["predicted_genres"]))
        for tag, row in zip(a["tag_genres"], a["matrix"]):
            lines.append(f"{tag:<{w}}  " + "  ".join(f"{v:>8}" for v in row))
    else:
        lines.append("agreement: no analysed track has a genre tag tagger knows")
    if a["unmapped"]:
        lines.append("unmapped tags: " + ", ".join(f"{k} ({v})" for k, v in a["unmapped"].items()))
    if rep["uncertain"]:
        lines += ["", "least certain:"]
        lines += [f"  {u['confidence']:.2f}  {u['genre']:<12} {printable(u['path'])}"
                  for u in rep["uncertain"]]
    if rep["abstained"]:
        lines += ["", f"abstained ({t['abstained']} tracks under the model's threshold; not "
                      f"written unless `tagger write --include-uncertain`):"]
        lines += [f"  {u['confidence']:.2f}  {u['genre']:<12} {printable(u['path'])}"
                  for u in rep["abstained"]]
    s = rep["last_scan"]
    if s:
        lines += ["", f"last scan #{s['id']}: {s['started']} ({s['status']}), model {s['model']}, "
                      f"{s['scanned']} analysed, {s['skipped']} unchanged, {s['errors']} errors"]
    lines.append(f"database: {rep['db']}")
    return "\n".join(lines)


def to_csv(rep: dict) -> str:
    buf = io.StringIO()
    fields = [rep["by"], "tracks", "share", "mean_confidence", "low_confidence", "written"]
    w = csv.DictWriter(buf, fieldnames=fields)
    w.writeheader()
    w.writerows(rep["groups"])
    return buf.getvalue()


def plot(rep: dict, path: str | os.PathLike) -> Path:
    """Genre distribution and the tag/prediction agreement matrix, as PNG or SVG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    a = rep["agreement"]
    fig, axes = plt.subplots(1, 2 if a["compared"] else 1, figsize=(13 if a["compared"] else 7, 5.5),
                             squeeze=False)
    ax = axes[0][0]
    names = [str(g[rep["by"]]) for g in rep["groups"]][:25][::-1]
    counts = [g["tracks"] for g in rep["groups"]][:25][::-1]
    ax.barh(names, counts, color="#4472c4")
    ax.set_xlabel("tracks")
    ax.set_title(f"Tracks by {rep['by']} ({rep['totals']['analysed']} analysed)")
    if a["compared"]:
        ax = axes[0][1]
        ax.imshow(a["matrix"], cmap="Blues", aspect="auto")
        ax.set_xticks(range(len(a["predicted_genres"])), a["predicted_genres"], rotation=45, ha="right")
        ax.set_yticks(range(len(a["tag_genres"])), a["tag_genres"])
        top = max(max(row) for row in a["matrix"])
        for i, row in enumerate(a["matrix"]):
            for j, v in enumerate(row):
                ax.text(j, i, str(v), ha="center", va="center", fontsize=9,
                        color="white" if v > top / 2 else "black")
        ax.set_xlabel("predicted genre")
        ax.set_ylabel("genre tag in the file")
        ax.set_title(f"Existing tags vs predictions: {a['rate']:.0%} agree")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
