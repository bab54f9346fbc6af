"""Benchmark (d): history search and metrics over one million messages on PostgreSQL.

Seeds a fresh PostgreSQL database (migrated by Traza's own migrations) through the store's own
tables with COPY: 100,000 conversations of 40,000 customers over 365 days, 1,000,000 message links
(6 customer messages and 4 agent replies per conversation) and their ~1.3 million events, hash-
chained as ``store.events`` does (so ``traza audit verify`` holds on the result). Heavy indexes are
dropped during the load and rebuilt after it, then the tables are analyzed. Bodies are Spanish-like
text: "pedido" is in about 13 % of messages, "roto" in about 4 %, "zanahoria" in about 0.01 %.

Then it measures, with the store's own functions (``store.search``, ``store.reports``, the
``/traza stats`` query of ``traza.desk``), p50 and p95 over ``--runs`` runs after warm-up:

* search (admin, every team): a rare word, a common word, two words; a common word as an agent of
  one team; a customer's history by typed phone — target p95 < 100 ms;
* metrics for the last 30 days (``/api/metrics``), all teams and one team, and ``/traza stats 30d``
  — target p95 < 500 ms.

    .venv/bin/python bench/search_metrics.py [--messages 1000000] [--runs 30] [--keep]

Seeding takes a few minutes on a small machine; ``--keep`` leaves the database for inspection.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
from common import ms, percentile, print_table, write_result

from store.events import GENESIS, canonical_json, chain_hash, content_hash

NUMBER = common.PHONE_NUMBER_ID
TEAMS = (("soporte", "C0SOPORTE1"), ("ventas", "C0VENTAS01"), ("cobranzas", "C0COBRANZ1"))
AGENTS = {"soporte": ["U0AGENT003", "U0AGENT004"], "ventas": ["U0AGENT001", "U0AGENT002"]}
AGENTS["cobranzas"] = ["U0AGENT005"]
PER_CONVERSATION = 10  # 6 from the customer, 4 replies
_FILLER_TEXT = (
    "hola buenos dias gracias por favor necesito ayuda con mi cuenta cuando llega envio factura "
    "pago tarjeta transferencia direccion numero cambio devolucion producto precio cotizacion "
    "semana mañana tarde hoy ayer quiero saber si pueden revisar estado caja talla color modelo "
    "garantia tienda sucursal horario atencion cliente problema listo perfecto entendido claro"
)
FILLER = _FILLER_TEXT.split()
PEDIDO, ROTO, RARE = 0.13, 0.04, 0.0001


def words(rng: random.Random, syllables: list[str]) -> str:
    """A body of 5-14 words: filler, invented words (a long tail for the index) and the probes."""
    out = [rng.choice(FILLER) for _ in range(rng.randint(3, 9))]
    out += [rng.choice(syllables) + rng.choice(syllables) for _ in range(rng.randint(1, 4))]
    if rng.random() < PEDIDO:
        out.insert(rng.randrange(len(out) + 1), rng.choice(("pedido", "Pedido", "pedido,")))
    if rng.random() < ROTO:
        out.insert(rng.randrange(len(out) + 1), "roto")
    if rng.random() < RARE:
        out.insert(rng.randrange(len(out) + 1), "zanahoria")
    return " ".join(out)


class Seeder:
    """Rows for every table, conversation by conversation, with the event chain kept as it goes."""

    def __init__(self, messages: int, now: datetime) -> None:
        self.conversations = messages // PER_CONVERSATION
        self.contacts = max(1, self.conversations * 2 // 5)
        self.now, self.start = now, now - timedelta(days=365)
        self.rng = random.Random(7)
        self.syllables = [
            a + b for a in "bcdfglmnprstvz" for b in ("a", "e", "i", "o", "u", "ar", "en", "os")
        ]
        self.seq, self.prev, self.link_id = 0, GENESIS, 0

    def contact_rows(self) -> list[tuple[Any, ...]]:
        return [
            (
                i,
                f"wa:{common.customer_wa_id(i)}",
                common.customer_wa_id(i),
                f"Cliente {i}",
                self.start,
                self.start,
            )
            for i in range(1, self.contacts + 1)
        ]

    def event(
        self,
        rows: list[tuple[Any, ...]],
        at: datetime,
        kind: str,
        conv: tuple[int, int, str],
        actor: str,
        payload: dict[str, Any],
    ) -> None:
        self.seq += 1
        body = canonical_json(payload)
        row = {
            "seq": self.seq,
            "occurred_at": at,
            "type": kind,
            "conversation_id": conv[0],
            "ref": conv[1],
            "actor": actor,
            "team_id": conv[2],
            "phone_number_id": NUMBER,
            "content_hash": content_hash(body),
            "prev_hash": self.prev,
        }
        self.prev = chain_hash(row)
        rows.append((*row.values(), body, self.prev))

    def chunk(self, first: int, last: int) -> dict[str, list[tuple[Any, ...]]]:
        """Conversations ``first``..``last`` (ids) with their links and events."""
        out: dict[str, list[tuple[Any, ...]]] = {"conversations": [], "message_links": [], "events": []}
        span = (self.now - self.start) / self.conversations
        for cid in range(first, last + 1):
            self._conversation(out, cid, self.start + span * (cid - 1) + span * self.rng.random())
        return out

    def _conversation(self, out: dict[str, list[tuple[Any, ...]]], cid: int, opened: datetime) -> None:
        team, channel = TEAMS[cid % 3]
        agent, ref, contact = self.rng.choice(AGENTS[team]), 1000 + cid, (cid - 1) % self.contacts + 1
        conv = (cid, ref, team)
        thread = f"{int(opened.timestamp())}.{cid:06d}"
        ev = out["events"]
        self.event(ev, opened, "ConversationOpened", conv, f"contact:{contact}", {"contact_id": contact})
        at, first_reply, last_in = opened, None, opened
        for n in range(PER_CONVERSATION):
            inbound = n % 5 in (0, 1, 3)
            at = at + timedelta(minutes=self.rng.randint(1, 20))
            body = words(self.rng, self.syllables)
            self.link_id += 1
            if inbound:
                last_in = at
                wamid = f"wamid.BENCH{self.link_id:09d}"
                out["message_links"].append(
                    (
                        self.link_id,
                        cid,
                        "inbound",
                        "text",
                        wamid,
                        channel,
                        f"{at.timestamp():.6f}",
                        None,
                        body,
                        "{}",
                        "received",
                        at,
                        at,
                    )
                )
                payload = {"kind": "text", "text": body, "wa_message_id": wamid}
                self.event(ev, at, "CustomerMessageReceived", conv, f"contact:{contact}", payload)
                continue
            if first_reply is None:
                first_reply = at
                self.event(
                    ev, at, "ConversationClaimed", conv, agent, {"assignee": agent, "how": "first reply"}
                )
            out["message_links"].append(
                (
                    self.link_id,
                    cid,
                    "outbound",
                    "text",
                    None,
                    channel,
                    f"{at.timestamp():.6f}",
                    agent,
                    body,
                    "{}",
                    "delivered",
                    at,
                    at,
                )
            )
            self.event(ev, at, "ReplyReceived", conv, agent, {"text": body, "links": [self.link_id]})
        closed = at + timedelta(minutes=30) if at + timedelta(hours=36) < self.now else None
        if closed:
            self.event(ev, closed, "ConversationClosed", conv, agent, {"reason": "resuelto"})
        out["conversations"].append(
            (
                cid,
                ref,
                contact,
                NUMBER,
                team,
                "closed" if closed else "assigned",
                agent,
                channel,
                thread,
                opened,
                last_in,
                first_reply,
                last_in + timedelta(hours=24),
                closed,
                agent if closed else None,
            )
        )


COLUMNS = {
    "contacts": ("id", "key", "wa_id", "profile_name", "created_at", "updated_at"),
    "conversations": (
        "id",
        "ref",
        "contact_id",
        "phone_number_id",
        "team_id",
        "state",
        "assignee",
        "slack_channel",
        "slack_thread_ts",
        "opened_at",
        "last_customer_message_at",
        "first_response_at",
        "window_ends_at",
        "closed_at",
        "closed_by",
    ),
    "message_links": (
        "id",
        "conversation_id",
        "direction",
        "kind",
        "wa_message_id",
        "slack_channel",
        "slack_ts",
        "author",
        "body",
        "payload",
        "status",
        "sent_at",
        "created_at",
    ),
    "events": (
        "seq",
        "occurred_at",
        "type",
        "conversation_id",
        "ref",
        "actor",
        "team_id",
        "phone_number_id",
        "content_hash",
        "prev_hash",
        "payload",
        "hash",
    ),
}


async def seed(dsn: str, messages: int, now: datetime) -> dict[str, float]:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    timings: dict[str, float] = {}
    try:
        started = time.perf_counter()
        indexes = await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN ('message_links', 'events', "
            "'conversations') AND indexname NOT LIKE 'pk_%' AND indexname NOT LIKE 'uq_%'"
        )
        for row in indexes:
            await conn.execute(f'DROP INDEX "{row["indexname"]}"')
        seeder = Seeder(messages, now)
        await conn.execute(
            "INSERT INTO business_numbers (phone_number_id, display_phone_number, default_team) "
            f"VALUES ('{NUMBER}', '15550783881', 'soporte')"
        )
        await conn.copy_records_to_table(
            "contacts", records=seeder.contact_rows(), columns=COLUMNS["contacts"]
        )
        step = 5000
        for first in range(1, seeder.conversations + 1, step):
            rows = seeder.chunk(first, min(first + step - 1, seeder.conversations))
            for table in ("conversations", "message_links", "events"):
                await conn.copy_records_to_table(table, records=rows[table], columns=COLUMNS[table])
            print(
                f"  seeded {min(first + step - 1, seeder.conversations):,} conversations",
                end="\r",
                flush=True,
            )
        await conn.execute(
            "UPDATE event_chain_head SET seq = $1, hash = $2 WHERE id = 1", seeder.seq, seeder.prev
        )
        timings["load_s"] = time.perf_counter() - started
        for row in indexes:
            await conn.execute(row["indexdef"])
        timings["indexes_s"] = time.perf_counter() - started - timings["load_s"]
        await conn.execute("VACUUM ANALYZE")
        timings["seed_s"] = time.perf_counter() - started
        print()
    finally:
        await conn.close()
    return timings


async def measure(
    label: str, call: Callable[[], Awaitable[Any]], runs: int, warmup: int = 3
) -> dict[str, Any]:
    for _ in range(warmup):
        result = await call()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        result = await call()
        samples.append(time.perf_counter() - started)
    size = len(result) if isinstance(result, list) else (1 if result else 0)
    return {
        "query": label,
        "p50_ms": ms(percentile(samples, 50)),
        "p95_ms": ms(percentile(samples, 95)),
        "max_ms": ms(max(samples)),
        "results": size,
        "runs": runs,
    }


async def queries(url: str, now: datetime, runs: int) -> list[dict[str, Any]]:
    from store.db import create_engine
    from store.reports import metrics
    from store.search import contact_history, search_messages
    from tests.harness import load_test_config
    from traza.desk import Desk

    engine = create_engine(url)
    desk = Desk(engine, load_test_config(), lambda: now)
    since = now - timedelta(days=30)
    phone = "+" + common.customer_wa_id(12345)
    try:
        async with engine.connect() as conn:

            async def find(words: str, teams: set[str] | None = None) -> Any:
                return await search_messages(conn, words, team_ids=teams)

            plan: list[tuple[str, str, Callable[[], Awaitable[Any]]]] = [
                ("search", "rare word 'zanahoria'", lambda: find("zanahoria")),
                ("search", "common word 'pedido' (13 %)", lambda: find("pedido")),
                ("search", "two words 'pedido roto'", lambda: find("pedido roto")),
                ("search", "'pedido' as an agent of one team", lambda: find("pedido", {"soporte"})),
                ("search", "history by phone", lambda: contact_history(conn, phone)),
                ("metrics", "/api/metrics last 30 days", lambda: metrics(conn, since=since, until=now)),
                (
                    "metrics",
                    "/api/metrics 30 days, one team",
                    lambda: metrics(conn, since=since, until=now, team="soporte"),
                ),
                ("metrics", "/traza stats 30d", lambda: desk.stats("U0ADMIN001", None, "30d")),
            ]
            results = []
            for kind, label, call in plan:
                row = await measure(label, call, runs if kind == "search" else max(5, runs // 3))
                target = 100.0 if kind == "search" else 500.0
                row.update(kind=kind, target_ms=target, ok="yes" if row["p95_ms"] < target else "MISS")
                results.append(row)
                print(f"  {label}: p50 {row['p50_ms']} ms, p95 {row['p95_ms']} ms")
            return results
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=30, help="timed runs per search query (metrics: a third)")
    parser.add_argument("--keep", action="store_true", help="keep the seeded database")
    args = parser.parse_args(argv)
    from store.migrate import upgrade

    now = datetime.now(UTC).replace(microsecond=0)
    with common.pg_database("search") as url, _kept(url, args.keep):
        upgrade(url)
        dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
        print(f"seeding {args.messages:,} messages into {url.rsplit('/', 1)[1]} ...")
        timings = asyncio.run(seed(dsn, args.messages, now))
        print(
            f"seeded in {timings['seed_s']:.0f} s (load {timings['load_s']:.0f} s, indexes "
            f"{timings['indexes_s']:.0f} s)"
        )
        results = asyncio.run(queries(url, now, args.runs))
    print_table(
        results,
        [
            ("kind", "kind"),
            ("query", "query"),
            ("p50_ms", "p50 ms"),
            ("p95_ms", "p95 ms"),
            ("target_ms", "p95 target"),
            ("ok", "ok"),
            ("results", "rows"),
        ],
    )
    data = {"messages": args.messages, "seeding": timings, "results": results}
    print(f"results: {write_result('search_metrics', data)}")
    return data


class _kept:
    """Keeps the database (``--keep``) by renaming it out of ``pg_database``'s reach."""

    def __init__(self, url: str, keep: bool) -> None:
        self.url, self.keep = url, keep

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        if self.keep:
            name = self.url.rsplit("/", 1)[1]
            asyncio.run(common._pg_admin(f'ALTER DATABASE "{name}" RENAME TO "{name}_kept"'))
            print(f"kept the database as {name}_kept")


if __name__ == "__main__":
    main()
