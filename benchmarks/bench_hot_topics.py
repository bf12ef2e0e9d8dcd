"""Where the "same matter" bars of policies/hotline/ranking.yml come from, and how hot topics fare.

1. Pairs of the project's own tickets (policies/hotline/tickets, 690): how alike tickets of different
   level-1 categories are (they are never one matter) and tickets of one category, by the e5 cosine
   (what `precedent_min_similarity` is read against) and by the hot topics' matter similarity (places'
   names out; mean of the e5 cosine and the character-bigram tf-idf cosine). The bars are the 99th
   percentile of the different-category pairs.
2. The check, never tuned on: the competition's 30 hot messages (../shared, read in place) hold ten about
   one compound's night stalls (魅力之城) and five about one college's enforced internships (经济学院);
   the topics found are scored against those two groups (a message is in a group when its subject
   names it) at the configured bar and at its neighbours.
3. What reading a period costs: topics over 2,000 tickets (the project's tickets, repeated with other
   times), vectors cached.

    python benchmarks/bench_hot_topics.py [--json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
HOT = REPO.parent / "shared" / "corpus" / "hotline" / "hot-messages.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = run()
    for name, row in results["pairs"].items():
        print(f"{name:7}  different level 1: p50 {row['different_p50']:.3f} p99 {row['different_p99']:.3f}   "
              f"same level 1: p50 {row['same_p50']:.3f}   same level 2: p50 {row['same_level2_p50']:.3f}")
    for row in results.get("hot_messages", []):
        print(f"bar {row['bar']:.3f}: topics {row['topics']}, 魅力之城 {row['compound']}, 经济学院 {row['college']}, "
              f"others in topics {row['others_in_topics']}")
    print(f"clustering {results['period']['tickets']} tickets of a period: {results['period']['seconds']:.2f} s")
    if args.json:
        print(json.dumps(results, ensure_ascii=False))


def run() -> dict:
    from app.composition import build_embedder
    from app.config import Settings
    from app.routing.catalogue import Taxonomy, load_ranking_policy
    from app.routing.classifier import Featurizer, Ticket
    from app.routing.evaluation import load_tickets
    from app.routing.hot_topics import HotTicket, find_hot_topics, matter_similarity
    from app.routing.places import find_places
    from app.security.pii import mask_personal_data

    settings = Settings()
    policy = load_ranking_policy(settings.routing.ranking_path)
    featurizer = Featurizer(build_embedder(settings), Taxonomy())
    labelled = load_tickets(REPO / "policies" / "hotline" / "tickets")
    texts = [t.text for t in labelled]
    matters = [find_places(t).removed_from(t) for t in texts]
    whole = featurizer.passage_vectors([Ticket.of(t) for t in texts])
    stripped = featurizer.passage_vectors([Ticket.of(m) for m in matters])
    level1 = np.array([t.label.split("/")[0] for t in labelled])
    level2 = np.array([t.label for t in labelled])
    upper = np.triu_indices(len(labelled), 1)
    different, same2 = level1[upper[0]] != level1[upper[1]], level2[upper[0]] == level2[upper[1]]

    def spread(matrix: np.ndarray) -> dict[str, float]:
        pairs = matrix[upper]
        return {"different_p50": float(np.percentile(pairs[different], 50)),
                "different_p99": float(np.percentile(pairs[different], 99)),
                "same_p50": float(np.percentile(pairs[~different], 50)),
                "same_level2_p50": float(np.percentile(pairs[same2], 50))}

    results: dict = {"pairs": {"e5": spread(whole @ whole.T), "matter": spread(matter_similarity(matters, stripped))},
                     "bars": {"precedent_min_similarity": policy.precedent_min_similarity,
                              "hot_topic_min_similarity": policy.hot_topic_min_similarity}}
    if HOT.exists():
        rows = [json.loads(line) for line in HOT.read_text(encoding="utf-8").splitlines() if line.strip()]
        said = [mask_personal_data(f"{r['留言主题']}。{r['留言详情']}").text for r in rows]
        vectors = featurizer.passage_vectors([Ticket.of(t) for t in said])
        tickets = [HotTicket(r["留言编号"], t, dt.datetime.fromisoformat(r["留言时间"])) for r, t in zip(rows, said)]
        compound = {r["留言编号"] for r in rows if "魅力之城" in r["留言主题"]}
        college = {r["留言编号"] for r in rows if "经济学院" in r["留言主题"]}
        results["hot_messages"] = []
        for bar in (policy.hot_topic_min_similarity - 0.02, policy.hot_topic_min_similarity,
                    policy.hot_topic_min_similarity + 0.02):
            topics = find_hot_topics(tickets, said, vectors, bar, policy.hot_topic_min_tickets, tickets_shown=len(rows))
            groups = [{t.id for t in topic.tickets} for topic in topics]

            def best(group: set[str]) -> str:
                hit = max(groups, key=lambda g: len(g & group), default=set())
                return f"{len(hit & group)}/{len(group)} in one topic of {len(hit)}"

            results["hot_messages"].append({"bar": bar, "topics": len(topics), "compound": best(compound),
                                            "college": best(college),
                                            "others_in_topics": sum(len(g - compound - college) for g in groups)})
    start = time.perf_counter()
    now = dt.datetime.now(dt.timezone.utc)
    period, period_matters, period_vectors = [], [], []
    for copy in range(3):
        for i, t in enumerate(labelled):
            period.append(HotTicket(f"{copy}-{i}", texts[i], now - dt.timedelta(minutes=copy * 1000 + i),
                                    t.district, None))
            period_matters.append(matters[i])
            period_vectors.append(stripped[i])
    period, period_matters = period[:2000], period_matters[:2000]
    find_hot_topics(period, period_matters, np.asarray(period_vectors[:2000]), policy.hot_topic_min_similarity,
                    policy.hot_topic_min_tickets)
    results["period"] = {"tickets": len(period), "seconds": time.perf_counter() - start}
    return results


if __name__ == "__main__":
    main()
