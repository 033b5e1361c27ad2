"""PII redaction: sample rows in lineage, log events and the story without personal data.

The lineage tracker keeps the first rows of every input and output as a sample. Columns named in
``redact_columns``, or whose name matches ``redact_pattern`` (here the ready-made ``PII_PATTERN``:
e-mail, SSN, phone, card, password, token, ...), keep their name and dtype but every sampled value
becomes ``[REDACTED]`` as the sample is taken, so the real values reach no telemetry artifact.

The script runs a small customer pipeline with ``configure(spans_file=...)`` (spans and lineage
log events as OTLP/JSON lines), writes ``lineage.json``, ``story.html`` (from the lineage file),
``story_from_telemetry.html`` (from the telemetry file), ``metrics.json`` and
``metrics_prometheus.txt``, prints a masked sample, then checks that no secret value appears in
any of those files. The pipeline's own output (``data/marketing.csv``) does contain e-mail
addresses: redaction protects telemetry, not the data your steps write.

    python examples/pii_redaction.py [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from odibi_otel import (
    PII_PATTERN,
    MetricsManager,
    Orchestrator,
    Step,
    StoryGenerator,
    TrackerConfig,
    configure,
)

CUSTOMERS = pd.DataFrame(
    {
        "customer_id": [1, 2, 3, 4],
        "name": ["Ann Lee", "Bo Chen", "Cy Diaz", "Di Evans"],
        "email": ["ann.lee@example.com", "bo.chen@example.com", "cy.diaz@example.com", "di@example.com"],
        "ssn": ["123-45-6789", "987-65-4321", "555-12-3456", "111-22-3333"],
        "phone_number": ["+1 555 0100", "+1 555 0101", "+1 555 0102", "+1 555 0103"],
        "notes": ["VIP, door code 4711", "prefers e-mail", "door code 0815", ""],
        "country": ["US", "US", "CA", "US"],
        "opted_in": [True, False, True, True],
    }
)
#: Values that must never show up in telemetry.
SECRETS = ["ann.lee@example.com", "bo.chen@example.com", "123-45-6789", "+1 555 0100", "door code 4711"]


def marketing_list(customers: pd.DataFrame) -> pd.DataFrame:
    return customers.loc[customers["opted_in"], ["customer_id", "email", "country"]]


def main() -> int:
    parser = argparse.ArgumentParser(description="Redacted samples in lineage, events and story.")
    parser.add_argument("--out", type=Path, default=Path.cwd(), help="output folder (default: current)")
    parser.add_argument(
        "--without-redaction", action="store_true", help="default TrackerConfig: see what would leak (exit 1)"
    )
    args = parser.parse_args()
    out = args.out.resolve()
    (out / "data").mkdir(parents=True, exist_ok=True)
    CUSTOMERS.to_csv(out / "data" / "customers.csv", index=False)
    telemetry = out / "telemetry.jsonl"
    telemetry.unlink(missing_ok=True)

    config = TrackerConfig(sample_rows=3, redact_columns=["notes"], redact_pattern=PII_PATTERN)
    if args.without_redaction:
        config = TrackerConfig(sample_rows=3)
    steps = [
        Step("read_customers", "ingest", "read", str(out / "data" / "customers.csv"), outputs=["customers"]),
        Step("marketing_list", "transform", "function", marketing_list,
             inputs=["customers"], outputs=["marketing"]),
        Step("store_marketing", "store", "write", str(out / "data" / "marketing.csv"), inputs=["marketing"]),
    ]  # fmt: skip

    handle = configure(service_name="crm-export", spans_file=telemetry)
    metrics = MetricsManager()
    try:
        result = Orchestrator(
            steps,
            pipeline_name="crm_export",
            enable_tracker=True,
            tracker_config=config,
            metrics_manager=metrics,
        ).execute()
    finally:
        handle.shutdown()
    tracker = result["tracker"]
    tracker.export_lineage(out / "lineage.json")
    StoryGenerator().generate_story(out / "lineage.json", out / "story.html")
    StoryGenerator().generate_story(telemetry, out / "story_from_telemetry.html")
    metrics.save_to_file(out / "metrics.json")
    metrics.export_prometheus(out / "metrics_prometheus.txt")
    metrics.shutdown()
    print(f"pipeline success: {result['success']}")

    snapshot = tracker.to_dict()["steps"][0]["after"]["customers"]
    print(f"redacted columns: {', '.join(snapshot['redacted_columns']) or 'none'}")
    print("sample of read_customers (as stored in lineage.json, log events and the story):")
    sample = pd.DataFrame(snapshot["sample"]["rows"], columns=snapshot["sample"]["columns"])
    print(sample.to_string(index=False))

    artifacts = ["lineage.json", "story.html", "story_from_telemetry.html", "telemetry.jsonl",
                 "metrics.json", "metrics_prometheus.txt"]  # fmt: skip
    leaks = []
    for name in artifacts:
        text = (out / name).read_text(encoding="utf-8")
        found = [secret for secret in SECRETS if secret in text]
        leaks += [f"{secret!r} in {name}" for secret in found]
        print(f"  {name:<27} secret values found: {len(found)}")
    if leaks:
        print("LEAKED: " + "; ".join(leaks))
        return 1
    print("no secret appears in any telemetry artifact")

    marketing = (out / "data" / "marketing.csv").read_text(encoding="utf-8")
    real_emails = "ann.lee@example.com" in marketing
    print(f"data/marketing.csv (the pipeline's own output) holds real e-mails: {real_emails}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
