"""OpenLineage events of a run, written to a file and read back as a catalog would.

The pipeline reads two CSV files, joins them in a ``sql`` step, adds a column in a function step
and writes parquet. An ``OpenLineageEmitter`` writes each event to ``openlineage.jsonl`` (one JSON
event per line, the client's file transport); the script then prints, like a lineage graph in a
catalog, each job with the datasets it read and wrote, the column lineage of the SQL step, and
the trace id that leads back to the run's trace.

    python examples/openlineage_events.py [--out DIR]

To send the events to Marquez (or any OpenLineage endpoint) instead, construct
``OpenLineageEmitter()`` with ``OPENLINEAGE_URL=http://localhost:5000`` set.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from odibi_otel import Orchestrator, Step
from odibi_otel.openlineage import OpenLineageEmitter

QUERY = """
SELECT c.country, o.order_id, o.amount
FROM orders AS o JOIN customers AS c ON o.customer_id = c.customer_id
"""


def add_vat(orders: pd.DataFrame) -> pd.DataFrame:
    return orders.assign(gross=orders["amount"] * 1.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("."), help="output folder (default: here)")
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"order_id": [1, 2, 3], "customer_id": [7, 8, 7], "amount": [10.0, 4.5, 3.0]}).to_csv(
        out / "orders.csv", index=False
    )
    pd.DataFrame({"customer_id": [7, 8], "country": ["FR", "DE"]}).to_csv(out / "customers.csv", index=False)
    events_file = out / "openlineage.jsonl"
    events_file.unlink(missing_ok=True)
    steps = [
        Step("read_orders", "ingest", "read", str(out / "orders.csv"), outputs=["orders"]),
        Step("read_customers", "ingest", "read", str(out / "customers.csv"), outputs=["customers"]),
        Step("join", "transform", "sql", QUERY, inputs=["orders", "customers"], outputs=["joined"]),
        Step("vat", "transform", "function", add_vat, inputs=["joined"], outputs=["gross"]),
        Step("store", "store", "write", str(out / "gross.parquet"), inputs=["gross"]),
    ]
    emitter = OpenLineageEmitter.to_file(events_file)
    result = Orchestrator(steps, pipeline_name="sales", openlineage=emitter).execute()
    events = [json.loads(line) for line in events_file.read_text("utf-8").splitlines()]
    print(f"{len(events)} OpenLineage events in {events_file}")
    for event in events:
        if event["eventType"] == "START":
            continue
        inputs = ", ".join(d["name"].rsplit("/", 1)[-1] for d in event["inputs"]) or "-"
        outputs = ", ".join(d["name"].rsplit("/", 1)[-1] for d in event["outputs"]) or "-"
        print(f"{event['eventType']:<8} {event['job']['name']:<20} {inputs} -> {outputs}")
    join = next(e for e in events if e["job"]["name"] == "sales.join" and e["eventType"] == "COMPLETE")
    for column, lineage in join["outputs"][0]["facets"]["columnLineage"]["fields"].items():
        sources = ", ".join(f"{f['name']}.{f['field']}" for f in lineage["inputFields"])
        print(f"column {column} <- {sources}")
    trace_ids = {event["run"]["facets"]["odibi"]["traceId"] for event in events}
    print(f"trace id {trace_ids.pop()} (the run's trace: {result['trace_id']})")


if __name__ == "__main__":
    main()
