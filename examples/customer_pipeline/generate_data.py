"""Generate the demo's raw data: ``customers.csv`` and ``orders.csv``, deterministically.

The data is small but dirty in the ways real exports are:

- customers: exact duplicate rows, the same customer entered twice with a differently spelled
  country, missing emails, emails with stray capitals and spaces, country codes in mixed case
  with surrounding whitespace, and ``UK`` where the rest of the file says ``GB``;
- orders: cancelled orders, statuses in mixed case, a few missing amounts, and orders placed by
  customer ids that are not in the customer file.

The same ``seed`` always gives byte-identical files. Run ``python generate_data.py DIR`` to write
them into ``DIR``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20240501

FIRST_NAMES = (  # noqa: SIM905 (a word list reads best as words)
    "Ada Alan Amara Ana Ben Carla Chen Daniel Elena Emma Farah Felix Grace Hana Hugo Ines "
    "Ivan Jonas Julia Kai Lars Lea Leo Lina Luca Maya Mia Noah Nora Omar Paul Priya Rosa Sam "
    "Sara Sofia Tom Uma Victor Yara Zoe"
).split()
LAST_NAMES = (  # noqa: SIM905 (a word list reads best as words)
    "Andersen Bauer Costa Dubois Evans Fischer Garcia Hansen Ito Jansen Kowalski Larsen "
    "Martin Meyer Moreau Novak Olsen Patel Rossi Santos Schmidt Silva Smith Svensson Tanaka "
    "Visser Wagner Weber Williams Young"
).split()
EMAIL_DOMAINS = ("example.com", "mail.example.org", "shop.example.net")
COUNTRIES = ("US", "GB", "DE", "FR", "NL", "ES", "IT", "SE", "CA", "AU")
COUNTRY_WEIGHTS = (0.30, 0.14, 0.13, 0.10, 0.07, 0.07, 0.06, 0.04, 0.05, 0.04)
SEGMENTS = ("consumer", "small_business", "enterprise")
SEGMENT_WEIGHTS = (0.70, 0.22, 0.08)
SEGMENT_ORDER_SIZE = {"consumer": 1.0, "small_business": 2.5, "enterprise": 6.0}
STATUSES = ("completed", "shipped", "pending", "returned", "cancelled")
STATUS_WEIGHTS = (0.72, 0.09, 0.04, 0.04, 0.11)

FIRST_CUSTOMER_ID = 10_001
FIRST_ORDER_ID = 500_001
UNKNOWN_CUSTOMER_IDS = np.arange(90_001, 90_041)


@dataclass(frozen=True)
class RawData:
    """What :func:`generate` wrote."""

    customers_csv: Path
    orders_csv: Path
    customer_rows: int
    unique_customers: int
    order_rows: int


def generate(
    folder: str | Path,
    *,
    seed: int = SEED,
    customers: int = 1_960,
    orders: int = 20_000,
) -> RawData:
    """Write ``customers.csv`` and ``orders.csv`` into ``folder`` (created if needed)."""
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    customer_frame = _customers(rng, customers)
    order_frame = _orders(rng, customer_frame, orders)
    customer_frame = _with_duplicates(rng, customer_frame)
    paths = folder / "customers.csv", folder / "orders.csv"
    customer_frame.to_csv(paths[0], index=False)
    order_frame.to_csv(paths[1], index=False)
    return RawData(
        customers_csv=paths[0],
        orders_csv=paths[1],
        customer_rows=len(customer_frame),
        unique_customers=customers,
        order_rows=len(order_frame),
    )


def _customers(rng: np.random.Generator, count: int) -> pd.DataFrame:
    ids = np.arange(FIRST_CUSTOMER_ID, FIRST_CUSTOMER_ID + count)
    first = rng.choice(FIRST_NAMES, count)
    last = rng.choice(LAST_NAMES, count)
    domains = rng.choice(EMAIL_DOMAINS, count)
    emails = np.array(
        [f"{f}.{name}{i}@{d}".lower() for f, name, i, d in zip(first, last, ids, domains, strict=True)],
        dtype=object,
    )
    shouted = rng.random(count) < 0.03  # typed in by hand: capitals and a trailing space
    emails[shouted] = [f"{email.capitalize()} " for email in emails[shouted]]
    emails[rng.random(count) < 0.04] = None
    signup = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 1_277, count), unit="D")
    return pd.DataFrame(
        {
            "customer_id": ids,
            "name": [f"{f} {name}" for f, name in zip(first, last, strict=True)],
            "email": emails,
            "country": [_dirty_country(rng, c) for c in rng.choice(COUNTRIES, count, p=COUNTRY_WEIGHTS)],
            "signup_date": signup.strftime("%Y-%m-%d"),
            "segment": rng.choice(SEGMENTS, count, p=SEGMENT_WEIGHTS),
        }
    )


def _dirty_country(rng: np.random.Generator, code: str) -> str:
    roll = rng.random()
    if code == "GB" and roll < 0.25:
        return "UK"
    if roll < 0.80:
        return code
    if roll < 0.86:
        return code.lower()
    if roll < 0.92:
        return f" {code}"
    if roll < 0.96:
        return f"{code.title()} "
    return f" {code.lower()} "


def _with_duplicates(rng: np.random.Generator, customers: pd.DataFrame) -> pd.DataFrame:
    """Append 30 exact duplicates and 10 re-entries whose country is spelled differently."""
    picked = rng.choice(len(customers), 40, replace=False)
    exact = customers.iloc[picked[:30]]
    re_entered = customers.iloc[picked[30:]].copy()
    re_entered["country"] = [f" {str(c).strip().lower()} " for c in re_entered["country"]]
    combined = pd.concat([customers, exact, re_entered], ignore_index=True)
    return combined.iloc[rng.permutation(len(combined))].reset_index(drop=True)


def _orders(rng: np.random.Generator, customers: pd.DataFrame, count: int) -> pd.DataFrame:
    # A few customers buy a lot, most buy a little (gamma-distributed purchase propensity).
    propensity = rng.gamma(0.6, 1.0, len(customers))
    buyers = rng.choice(len(customers), count, p=propensity / propensity.sum())
    customer_ids = customers["customer_id"].to_numpy()[buyers]
    unknown = rng.random(count) < 0.01  # orders from a customer system we never got an export of
    customer_ids[unknown] = rng.choice(UNKNOWN_CUSTOMER_IDS, int(unknown.sum()))
    size = customers["segment"].map(SEGMENT_ORDER_SIZE).to_numpy()[buyers]
    amount = np.round(rng.lognormal(3.6, 0.65, count) * size, 2)
    amount[rng.random(count) < 0.003] = np.nan
    statuses = rng.choice(STATUSES, count, p=STATUS_WEIGHTS).astype(object)
    messy = rng.random(count) < 0.05
    statuses[messy] = [f"{status.upper()} " for status in statuses[messy]]
    order_date = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 366, count), unit="D")
    frame = pd.DataFrame(
        {
            "order_id": np.arange(FIRST_ORDER_ID, FIRST_ORDER_ID + count),
            "customer_id": customer_ids,
            "order_date": order_date.strftime("%Y-%m-%d"),
            "amount": amount,
            "status": statuses,
        }
    )
    return frame.sort_values(["order_date", "order_id"], kind="stable").reset_index(drop=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="where customers.csv and orders.csv are written")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    raw = generate(args.folder, seed=args.seed)
    print(f"wrote {raw.customer_rows} customer rows to {raw.customers_csv}")
    print(f"wrote {raw.order_rows} order rows to {raw.orders_csv}")


if __name__ == "__main__":
    main()
