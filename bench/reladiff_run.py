"""Runs reladiff on two PostgreSQL tables and prints one JSON line: the other side of
`bench.reconcile_diff`'s comparison.

Runs under the benchmark's own venv (`var/bench-reladiff`, reladiff + psycopg2), never the
project's: it imports nothing of creditgw. Usage:
`var/bench-reladiff/bin/python bench/reladiff_run.py DSN SCHEMA1 SCHEMA2 TABLE KEY COLUMN…`
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter


def main() -> int:
    dsn, schema1, schema2, table, key, *columns = sys.argv[1:]
    from reladiff import Algorithm, connect_to_table, diff_tables

    started = time.perf_counter()
    cpu_started = time.process_time()
    # One connection per table, as for two databases; hashdiff is the algorithm reladiff uses
    # between databases (joindiff needs both tables in one database, which two systems never are).
    t1 = connect_to_table(dsn, (schema1, table), key, extra_columns=tuple(columns))
    t2 = connect_to_table(dsn, (schema2, table), key, extra_columns=tuple(columns))
    connected = time.perf_counter()
    counts: Counter[str] = Counter()
    with diff_tables(t1, t2, algorithm=Algorithm.HASHDIFF) as result:
        for sign, _row in result:
            counts[sign] += 1
    finished = time.perf_counter()
    print(
        json.dumps(
            {
                "connect_s": connected - started,
                "diff_s": finished - connected,
                "total_s": finished - started,
                "cpu_s": time.process_time() - cpu_started,
                "rows_only_in_first": counts["-"],
                "rows_only_in_second": counts["+"],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
