"""Row generation for the demo shards: pure and deterministic, so the seeder only moves bytes.

Every value is already what the seeder binds (str, int, bytes or None): timestamps are naive
UTC strings, money is a decimal string and JSON is text, so the server stores exactly what was
generated and two runs with the same seed give byte-identical tables.

The rows deliberately carry what real application shards carry (NULL and malformed JSON, ids
above 2**63, zero dates, orphans, timestamps on day boundaries, replayed events...). Each of
those cases is given to a fixed number of rows (`_assign_roles`) rather than left to chance, so
it exists on every shard however small.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import itertools
import json
import random
from collections.abc import Sequence

US_PER_SECOND = 1_000_000
US_PER_DAY = 86_400 * US_PER_SECOND
PRODUCTS_PER_SHARD = 500
#: Customer ids from here up do not fit a signed BIGINT: readers must keep them unsigned.
BIG_ID_BASE = 2**63
MAX_UNSIGNED_BIGINT = 2**64 - 1

Row = tuple[object, ...]

#: Column order of the generated tuples, per table (also the seeder's INSERT column lists).
COLUMNS: dict[str, tuple[str, ...]] = {
    "customers": (
        "id",
        "email",
        "full_name",
        "tier",
        "is_active",
        "profile",
        "bio",
        "birth_date",
        "legacy_signup",
        "created_at",
        "updated_at",
    ),
    "products": (
        "id",
        "sku",
        "name",
        "price",
        "weight_kg",
        "tags",
        "launched",
        "thumbnail",
        "attributes",
        "updated_at",
    ),
    "orders": (
        "id",
        "customer_id",
        "status",
        "currency",
        "total",
        "is_gift",
        "version",
        "payload",
        "created_at",
        "updated_at",
    ),
    "order_events": ("id", "order_id", "event_type", "event_data", "occurred_at", "updated_at"),
}

FULL_NAMES = (
    "Zoë Ñúñez 🚀",
    "山田 太郎",
    "محمد الأحمد",
    "Łukasz Żółć",
    "Σοφία Παπαδοπούλου",
    "Ærøskøbing Ølsen",
    "Анна Иванова",
    "김민준",
    "Jean-Luc Picard",
    "Mary O'Brien",
    "François Lefèvre 🥐",
    "Ana da Conceição",
    "José Müller",
    "佐藤 花子 🌸",
    "Alice Smith",
    "Bob Jones",
)
LOCALES = ("de_DE", "fr_FR", "ja_JP", "ar_EG", "en_US", "de_CH", "pt_BR", "pl_PL")
#: (city, zip, country): the places customers live and orders ship to.
PLACES = (
    ("Zürich", "8001", "CH"),
    ("München", "80331", "DE"),
    ("東京", "100-0001", "JP"),
    ("القاهرة", "11511", "EG"),
    ("São Paulo", "01000-000", "BR"),
    ("Kraków", "30-001", "PL"),
    ("Paris", "75001", "FR"),
    ("New York", "10001", "US"),
)
NICKNAMES = ("🚀 rocket", "Kätzchen 🐱", "忍者", "نجمة ⭐")
MALFORMED_PROFILES = (
    '{"locale": "fr_FR", "marketing": {',
    "not json",
    "{'locale': 'en_GB'}",
    '{"locale": "de_DE", "score": 12.5,}',
)
BIO_PARAGRAPH = (
    "Grew up between Zürich and 東京, writes about coffee ☕ and trains 🚆. "
    "Lieblingsessen: Rösti. المفضل: الكسكس. "
)
PRODUCT_WORDS = (
    ("Crème", "Öko", "Mini", "Große", "抹茶", "Classic", "Ultra", "Café"),
    ("Becher ☕", "Teekanne", "Notebook", "Rucksack 🎒", "Lampe", "Kissen", "Bürste", "Mug"),
)
COLORS = ("rot", "blue", "grün", "黒", "white")
TAGS = ("new", "sale", "eco", "fragile")
#: Every SET value, the empty set included.
TAG_SETS = tuple(
    ",".join(combo) for size in range(len(TAGS) + 1) for combo in itertools.combinations(TAGS, size)
)
STATUSES = ("pending", "paid", "shipped", "delivered", "cancelled", "refunded")
STATUS_WEIGHTS = (10, 15, 20, 40, 8, 7)
#: The events an order in each status has been through (about 3 per order on average).
EVENT_CHAINS: dict[str, tuple[str, ...]] = {
    "pending": ("created",),
    "paid": ("created", "paid"),
    "shipped": ("created", "paid", "shipped"),
    "delivered": ("created", "paid", "shipped", "delivered"),
    "cancelled": ("created", "cancelled"),
    "refunded": ("created", "paid", "refunded"),
}
CURRENCIES = ("EUR", "CHF", "USD", "GBP")
SHIPPING_FEES_CENTS = {"standard": 490, "express": 990, "pickup": 0}
NOTES = (
    "Bitte nicht knicken 📦",
    "配達前に電話してください",
    "اتصل قبل التسليم",
    "Ring twice — merci !",
    "Geschenk für Zoë 🎁",
)
COUPONS = ("WELCOME10", "SOMMER-2024", "VIP🌟")


@dataclasses.dataclass(frozen=True)
class Window:
    """The days of history, addressed as microsecond offsets from the first midnight (UTC)."""

    start: dt.datetime
    days: int

    @classmethod
    def ending(cls, end: dt.date, days: int) -> Window:
        first = end - dt.timedelta(days=days - 1)
        return cls(dt.datetime.combine(first, dt.time()), days)

    @property
    def size(self) -> int:
        """Number of distinct microseconds; the last valid offset is `size - 1`."""
        return self.days * US_PER_DAY

    def fmt(self, offset: int) -> str:
        """'YYYY-MM-DD HH:MM:SS.ffffff': what DATETIME(6)/TIMESTAMP(6) columns are bound with."""
        return (self.start + dt.timedelta(microseconds=offset)).isoformat(" ", "microseconds")

    def random(self, rng: random.Random) -> int:
        return rng.randrange(self.size)

    def later(self, rng: random.Random, offset: int) -> int:
        """A random offset strictly after `offset` (which must not be the window's last)."""
        return offset + 1 + rng.randrange(self.size - offset - 1)


@dataclasses.dataclass(frozen=True)
class ShardSpec:
    """Everything one shard's rows depend on; picklable, so it can be sent to a worker."""

    index: int
    orders: int
    days: int
    end: dt.date
    seed: int
    #: Pad order payloads to ~1 KB of nested JSON (client, marketing, payment, history), as
    #: the benchmark's data set asks; the padding has its own random stream, so the compact
    #: rows' other values are the same either way.
    rich_payload: bool = False

    @property
    def customers(self) -> int:
        return max(1, self.orders // 4)

    def derived_seed(self) -> int:
        """A seed per shard, so shards differ but each is reproducible on its own."""
        digest = hashlib.sha256(f"etl_platform.demo:{self.seed}:{self.index}".encode()).digest()
        return int.from_bytes(digest[:8], "big")


@dataclasses.dataclass(frozen=True)
class ShardRows:
    """One shard's rows, per table, in `COLUMNS` order."""

    customers: list[Row]
    products: list[Row]
    orders: list[Row]
    order_events: list[Row]

    def table(self, name: str) -> list[Row]:
        return getattr(self, name)


@dataclasses.dataclass(frozen=True)
class _OrderFacts:
    """What an order's events need to know about it."""

    id: int
    status: str
    created: int
    total: str
    currency: str


def generate_shard(spec: ShardSpec) -> ShardRows:
    """All four tables of one shard. Depends only on `spec`."""
    rng = random.Random(spec.derived_seed())
    window = Window.ending(spec.end, spec.days)
    customers, customer_ids = _customers(rng, spec.customers, spec.index, window)
    products, catalogue = _products(rng, window)
    padding = random.Random(spec.derived_seed() ^ 0x5EED) if spec.rich_payload else None
    orders, facts = _orders(rng, spec.orders, window, customer_ids, catalogue, padding)
    events = _order_events(rng, facts, window)
    return ShardRows(customers, products, orders, events)


# -- helpers ------------------------------------------------------------------------------


def _share(n: int, fraction: float, minimum: int) -> int:
    return max(minimum, round(n * fraction))


def _assign_roles(rng: random.Random, n: int, counts: dict[str, int]) -> list[str | None]:
    """Give each role to exactly `count` random rows (disjoint, earlier roles first).

    Fixed counts instead of per-row coin flips: every messy case exists even on a tiny shard.
    """
    roles: list[str | None] = [None] * n
    order = list(range(n))
    rng.shuffle(order)
    position = 0
    for role, count in counts.items():
        for i in order[position : position + count]:
            roles[i] = role
        position += count
    return roles


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


#: JSON text as applications write it: UTF-8 as is, not \u escapes. (One encoder, reused:
#: `json.dumps` with options builds a new one per call.)
_dumps = json.JSONEncoder(ensure_ascii=False).encode


# -- customers ----------------------------------------------------------------------------


def _customer_ids(n: int, shard: int) -> list[int]:
    """Small ids 1.. (reused across shards), then a few above 2**63; shard 0 holds 2**64 - 1."""
    big = min(n, _share(n, 0.005, 2))
    ids = list(range(1, n - big + 1)) + [BIG_ID_BASE + j for j in range(big)]
    if shard == 0:
        ids[-1] = MAX_UNSIGNED_BIGINT
    return ids


def _customers(
    rng: random.Random, n: int, shard: int, window: Window
) -> tuple[list[Row], list[int]]:
    ids = _customer_ids(n, shard)
    profile_roles = _assign_roles(
        rng,
        n,
        {
            "null": _share(n, 0.05, 1),
            "malformed": _share(n, 0.02, 2),
            "score_text": _share(n, 0.3, 1),
        },
    )
    bio_roles = _assign_roles(rng, n, {"long": _share(n, 0.001, 2), "null": _share(n, 0.4, 1)})
    # The oldest rows (lowest ids) predate the legacy column and hold its zero date.
    zero_dates = _share(n, 0.08, 1)
    legacy_roles = [
        *["zero"] * zero_dates,
        *_assign_roles(rng, n - zero_dates, {"null": _share(n, 0.15, 1)}),
    ]
    name_offset = rng.randrange(len(FULL_NAMES))
    rows: list[Row] = []
    malformed = 0
    for i, customer_id in enumerate(ids):
        profile_role = profile_roles[i]
        if profile_role == "malformed":
            profile: str | None = MALFORMED_PROFILES[malformed % len(MALFORMED_PROFILES)]
            malformed += 1
        else:
            profile = _profile(rng, profile_role)
        created = window.random(rng)
        updated = created
        if rng.random() < 0.3 and created < window.size - 1:
            updated = window.later(rng, created)
        rows.append(
            (
                customer_id,
                f"customer{i + 1}.s{shard:02d}@example.com",
                FULL_NAMES[(i + name_offset) % len(FULL_NAMES)],
                rng.choices(("free", "pro", "enterprise"), (70, 25, 5))[0],
                int(rng.random() < 0.85),
                profile,
                _bio(rng, bio_roles[i]),
                None if rng.random() < 0.1 else _birth_date(rng),
                _legacy_signup(rng, legacy_roles[i], window),
                window.fmt(created),
                window.fmt(updated),
            )
        )
    return rows, ids


def _profile(rng: random.Random, role: str | None) -> str | None:
    if role == "null":
        return None
    city, _zip, country = rng.choice(PLACES)
    score = round(rng.uniform(0, 100), 1)
    profile: dict[str, object] = {
        "locale": rng.choice(LOCALES),
        "marketing": {"email": rng.random() < 0.5, "sms": rng.random() < 0.2},
        "address": {"city": city, "country": country},
        "score": str(score) if role == "score_text" else score,
    }
    if rng.random() < 0.2:
        profile["nickname"] = rng.choice(NICKNAMES)
    return _dumps(profile)


def _bio(rng: random.Random, role: str | None) -> str | None:
    if role == "null":
        return None
    if role == "long":  # well over 100 KiB of UTF-8
        repeats = 1 + rng.randrange(110_000, 300_000) // len(BIO_PARAGRAPH.encode())
        return BIO_PARAGRAPH * repeats
    return BIO_PARAGRAPH[: rng.randrange(10, len(BIO_PARAGRAPH))]


def _birth_date(rng: random.Random) -> str:
    return (dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(66 * 365))).isoformat()


def _legacy_signup(rng: random.Random, role: str | None, window: Window) -> str | None:
    if role == "zero":
        return "0000-00-00 00:00:00"
    if role == "null":
        return None
    return window.fmt(window.random(rng) // US_PER_SECOND * US_PER_SECOND)[:19]


# -- products -----------------------------------------------------------------------------


def _products(rng: random.Random, window: Window) -> tuple[list[Row], list[tuple[str, int]]]:
    """The catalogue, and (sku, price in cents) per product for the orders' items."""
    rows: list[Row] = []
    catalogue: list[tuple[str, int]] = []
    tag_offset = rng.randrange(len(TAG_SETS))
    for i in range(PRODUCTS_PER_SHARD):
        sku = f"SKU-{i + 1:04d}"
        cents = rng.randrange(99, 99_999)
        catalogue.append((sku, cents))
        rows.append(
            (
                i + 1,
                sku,
                f"{rng.choice(PRODUCT_WORDS[0])} {rng.choice(PRODUCT_WORDS[1])}",
                _money(cents),
                None if rng.random() < 0.05 else round(rng.uniform(0.05, 25), 3),
                TAG_SETS[(i + tag_offset) % len(TAG_SETS)],
                None if rng.random() < 0.1 else rng.randint(1995, 2025),
                None if rng.random() < 0.05 else _thumbnail(rng),
                None if rng.random() < 0.05 else _attributes(rng),
                window.fmt(window.random(rng)),
            )
        )
    return rows, catalogue


def _thumbnail(rng: random.Random) -> bytes:
    """A few bytes of fake PNG, always holding 0x00 and 0xFF (they break naive text codecs)."""
    return b"\x89PNG\r\n\x1a\n\x00\xff" + rng.randbytes(rng.randrange(4, 48))


def _attributes(rng: random.Random) -> str:
    return _dumps(
        {
            "color": rng.choice(COLORS),
            "dimensions_cm": {"w": rng.randint(1, 80), "h": rng.randint(1, 80)},
            "materials": rng.sample(("Holz", "steel", "陶器", "cotton"), rng.randint(0, 2)),
        }
    )


# -- orders -------------------------------------------------------------------------------


def _boundary_days(rng: random.Random, days: int, edge: int) -> list[int]:
    """`edge` (the window's first or last day) plus up to three other days."""
    others = [d for d in range(days) if d != edge]
    return [edge, *sorted(rng.sample(others, min(len(others), 3)))]


def _order_times(rng: random.Random, n: int, window: Window) -> list[tuple[int, int, int]]:
    """(created, updated, version) per order, with the cursor edge cases a loader must survive.

    Midnight and 23:59:59.999999 on several days (the window's first and last microsecond
    included), groups of rows updated in one bulk UPDATE (same updated_at), and ~10% of rows
    updated many times (version 2..20, updated_at after created_at).
    """
    midnights = _boundary_days(rng, window.days, 0)
    last_micros = _boundary_days(rng, window.days, window.days - 1)
    group = max(4, n // 500)
    bulk_updates = [window.size // 2 + rng.randrange(window.size // 2) for _ in range(2)]
    roles = _assign_roles(
        rng,
        n,
        {
            "midnight": 2 * len(midnights),
            "last_micro": 2 * len(last_micros),
            "bulk": 2 * group,
            "updated": _share(n, 0.10, 1),
        },
    )
    counters = dict.fromkeys(("midnight", "last_micro", "bulk"), 0)
    times: list[tuple[int, int, int]] = []
    for role in roles:
        k = counters.get(role, 0)
        if role in counters:
            counters[role] = k + 1
        if role == "midnight":
            at = midnights[k % len(midnights)] * US_PER_DAY
            times.append((at, at, 1))
        elif role == "last_micro":
            at = (last_micros[k % len(last_micros)] + 1) * US_PER_DAY - 1
            times.append((at, at, 1))
        elif role == "bulk":
            at = bulk_updates[k % len(bulk_updates)]
            times.append((rng.randrange(at), at, rng.randint(2, 20)))
        elif role == "updated":
            created = rng.randrange(window.size - 1)
            times.append((created, window.later(rng, created), rng.randint(2, 20)))
        else:
            created = window.random(rng)
            times.append((created, created, 1))
    return times


def _orders(
    rng: random.Random,
    n: int,
    window: Window,
    customer_ids: Sequence[int],
    catalogue: Sequence[tuple[str, int]],
    padding: random.Random | None = None,
) -> tuple[list[Row], list[_OrderFacts]]:
    times = _order_times(rng, n, window)
    payload_roles = _assign_roles(
        rng,
        n,
        {
            "null": _share(n, 0.03, 1),
            "malformed": _share(n, 0.02, 2),
            "no_address": _share(n, 0.05, 1),
        },
    )
    orphans = _assign_roles(rng, n, {"orphan": _share(n, 0.01, 1)})
    # Orphans point just past the small ids: no customer row has those ids on any shard.
    first_orphan_id = len(customer_ids) + 1_000_000
    rows: list[Row] = []
    facts: list[_OrderFacts] = []
    malformed = 0
    for i, (created, updated, version) in enumerate(times):
        customer_id = (
            first_orphan_id + rng.randrange(1_000_000) if orphans[i] else rng.choice(customer_ids)
        )
        role = payload_roles[i]
        grand_cents, payload = _payload(rng, catalogue, with_address=role != "no_address")
        if padding is not None:
            _pad_payload(padding, payload, window.fmt(created))
        text = None if role == "null" else _dumps(payload)
        if role == "malformed" and text is not None:
            text = text[: len(text) // 2] if malformed % 2 == 0 else "not json"
            malformed += 1
        status = rng.choices(STATUSES, STATUS_WEIGHTS)[0]
        currency = rng.choice(CURRENCIES)
        total = _money(grand_cents)
        rows.append(
            (
                i + 1,
                customer_id,
                status,
                currency,
                total,
                int(rng.random() < 0.08),
                version,
                text,
                window.fmt(created),
                window.fmt(updated),
            )
        )
        facts.append(_OrderFacts(i + 1, status, created, total, currency))
    return rows, facts


def _payload(
    rng: random.Random, catalogue: Sequence[tuple[str, int]], *, with_address: bool
) -> tuple[int, dict[str, object]]:
    """(grand total in cents, nested payload) for a well-formed order."""
    items = []
    subtotal = 0
    for sku, cents in rng.sample(catalogue, rng.randint(1, 5)):
        qty = rng.randint(1, 4)
        subtotal += qty * cents
        items.append({"sku": sku, "qty": qty, "price": _money(cents)})
    method = rng.choice(tuple(SHIPPING_FEES_CENTS))
    grand = subtotal + SHIPPING_FEES_CENTS[method]
    shipping: dict[str, object] = {"method": method}
    if with_address:  # some writers never stored one
        city, zip_code, country = rng.choice(PLACES)
        shipping["address"] = {"city": city, "zip": zip_code, "country": country}
    payload: dict[str, object] = {
        "shipping": shipping,
        "items": items,
        "totals": {
            # Half the writers stored money as a string, half as a JSON number.
            "grand_total": _money(grand) if rng.random() < 0.5 else grand / 100,
            "tax": round(grand * 0.077) / 100,
        },
        "coupon": rng.choice(COUPONS) if rng.random() < 0.2 else None,
    }
    if rng.random() < 0.5:
        payload["notes"] = rng.choice(NOTES)
    return grand, payload


USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "ShopApp/5.12.3 (Android 15; Pixel 9; de_CH)",
)
CAMPAIGNS = ("black-friday", "sommer-sale-2024", "newsletter-kw42", "retargeting-🎯", "organic")
CARD_BRANDS = ("visa", "mastercard", "amex", "twint", "postfinance")


def _pad_payload(rng: random.Random, payload: dict[str, object], created: str) -> None:
    """Add what real order payloads carry besides the fields the views read (~1 KB in all)."""
    payload["client"] = {
        "ip": f"203.0.{rng.randrange(256)}.{rng.randrange(256)}",
        "user_agent": rng.choice(USER_AGENTS),
        "locale": rng.choice(LOCALES),
        "session_id": f"{rng.getrandbits(128):032x}",
    }
    payload["marketing"] = {
        "utm_source": rng.choice(("google", "newsletter", "instagram", "direct")),
        "utm_medium": rng.choice(("cpc", "email", "social", "none")),
        "utm_campaign": rng.choice(CAMPAIGNS),
        "landing_page": f"https://shop.example/p/{rng.randrange(10**6)}?ref={rng.getrandbits(40):x}",
    }
    payload["payment"] = {
        "method": "card",
        "card": {
            "brand": rng.choice(CARD_BRANDS),
            "last4": f"{rng.randrange(10_000):04d}",
            "exp": f"{rng.randint(1, 12):02d}/{rng.randint(26, 31)}",
        },
        "auth_code": f"{rng.getrandbits(48):012X}",
        "captured": rng.random() < 0.9,
        "risk_score": round(rng.random() * 100, 2),
    }
    steps = ("created", "payment_authorized", "picked", "packed", "handed_to_carrier")
    payload["history"] = [{"status": step, "at": created} for step in steps[: rng.randint(1, 3)]]
    for item in payload["items"]:  # type: ignore[union-attr]
        item["attributes"] = {  # type: ignore[index]
            "color": rng.choice(COLORS),
            "size": rng.choice(("XS", "S", "M", "L", "XL")),
        }


# -- order events -------------------------------------------------------------------------


def _order_events(rng: random.Random, orders: Sequence[_OrderFacts], window: Window) -> list[Row]:
    """The events of every order in sequence, then a few percent replayed.

    A replay repeats an event's order_id/event_type/event_data/occurred_at exactly, under a new
    id and a later updated_at: what an at-least-once event pipeline leaves behind.
    """
    last = window.size - 1
    rows: list[Row] = []
    occurred: list[int] = []
    for order in orders:
        at = order.created
        chain = EVENT_CHAINS[order.status]
        if rng.random() < 0.1:
            chain = (*chain, "note")
        for j, event_type in enumerate(chain):
            if j:
                at = min(last, at + rng.randrange(60 * US_PER_SECOND, 2 * US_PER_DAY))
            stamp = window.fmt(at)
            data = None if rng.random() < 0.01 else _event_data(rng, event_type, order)
            rows.append((len(rows) + 1, order.id, event_type, data, stamp, stamp))
            occurred.append(at)
    replayable = [i for i, at in enumerate(occurred) if at < last]
    count = min(len(replayable), _share(len(rows), 0.03, 1))
    for i in sorted(rng.sample(replayable, count)):
        _id, order_id, event_type, data, stamp, _updated = rows[i]
        later = window.fmt(window.later(rng, occurred[i]))
        rows.append((len(rows) + 1, order_id, event_type, data, stamp, later))
    return rows


def _event_data(rng: random.Random, event_type: str, order: _OrderFacts) -> str:
    data: dict[str, object]
    if event_type == "created":
        data = {"channel": rng.choice(("web", "app", "pos"))}
    elif event_type == "paid":
        method = rng.choice(("card", "paypal", "twint"))
        data = {"method": method, "amount": order.total, "currency": order.currency}
    elif event_type == "shipped":
        tracking = f"TRK{rng.randrange(10**9):09d}"
        data = {"carrier": rng.choice(("DHL", "UPS", "Post CH")), "tracking": tracking}
    elif event_type == "delivered":
        data = {"signed_by": rng.choice(FULL_NAMES)}
    elif event_type == "note":
        data = {"text": rng.choice(NOTES), "author": "support"}
    else:  # cancelled, refunded
        data = {"reason": rng.choice(("customer_request", "damaged", "fraud_check"))}
        if event_type == "refunded":
            data["amount"] = order.total
    return _dumps(data)
