"""One cold start of the indexer in a process of its own, for the benchmarks:

    python -m tests.bench.run_indexer CONFIG

creates the data folder and database, scans the spool once, and prints JSON: the seconds it took
(from opening the workspace to the last commit), the process's peak RSS, and the scan's report.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from services.core import config as config_mod
from services.workspace import Workspace
from tests.bench.common import peak_rss_mb


async def main(config: Path) -> dict[str, object]:
    cfg = config_mod.load(config)
    began = time.perf_counter()
    ws = await Workspace.open(cfg, create=True)
    try:
        report = await ws.indexer.scan()
    finally:
        await ws.close()
    # The scan's worker processes (services/indexing/worker.py) count too: their peaks are added.
    return {
        "seconds": time.perf_counter() - began,
        "peak_rss_mb": peak_rss_mb() + ws.indexer.worker_peak_rss_mb * index_worker_count(),
        "main_rss_mb": peak_rss_mb(),
        "worker_rss_mb": ws.indexer.worker_peak_rss_mb,
        "report": report.to_json(),
    }


def index_worker_count() -> int:
    from services.indexing import indexer

    return indexer._WORKERS


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(Path(sys.argv[1])))))
