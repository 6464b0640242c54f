"""Turn measured rows into ratios, target checks, a Markdown report and JSON."""

import math

from catalog import (
    CEILING, DATABASE_VIEW, GRANIAN, HAND_TUNED, OURS, STATIC_CEILING, STATIC_MIDDLEWARE, STATIC_VIEW,
)

# The targets for our defaults, every server behind its router.
MIN_JSON_VS_GUNICORN_PEERS = 1.0  # against the best of the gunicorn peers, at the fewest and the most clients
MIN_JSON_VS_GRANIAN = 0.8
MIN_IO_VS_GRANIAN = 0.9  # at the fewest clients
MIN_IO_VS_GRANIAN_LOADED = 0.5  # at every larger client count
MAX_COLD_START_SECONDS = 0.6
# The database view, at every client count: no failed request, at least this
# share of what the instance's connections can do at most (connections /
# 50 ms), and ahead of every peer that failed none.
MAX_DATABASE_FAILURES = 0
MIN_DATABASE_VS_CEILING = 0.9
MIN_DATABASE_VS_PEERS = 1.0  # strictly more
DATABASE_HOLD_SECONDS = 0.05
# At the most clients, every view: no error, and every client answered before the router gives up (30 s).
MAX_ERRORS_AT_MOST_CLIENTS = 0
MAX_SLOWEST_MS = 30_000

COMPARED_STATIC_HEADERS = ("Content-Encoding", "Cache-Control", "Content-Type", "Vary")

TABLE_COLUMNS = (
    ("server", "server"), ("view", "view"), ("clients", "clients"), ("requests_per_second", "req/s"), ("rounds_rps", "req/s per round"), ("p50_ms", "p50 ms"),
    ("p99_ms", "p99 ms"), ("max_ms", "max ms"), ("errors", "errors"), ("cpu_us_per_request", "server CPU µs/req"), ("peak_rss_mib", "peak RSS MiB"),
    ("peak_pss_mib", "peak PSS MiB"), ("peak_database_connections", "peak DB connections"),
)


def best_row(rows: list[dict], role: str, view: str, clients: int) -> dict | None:
    """The fastest row of a role at a point; a computed ceiling (no client count) stands at every point."""
    candidates = [row for row in rows if row["role"] == role and row["view"] == view and row.get("clients") in (clients, None)]
    return max(candidates, key=lambda row: row["requests_per_second"], default=None)


def rounded_down(value: float) -> float:
    """Two decimals, rounded down: a ratio shown as 1.00 is at least 1.00, and its target,
    checked on the figure shown, is met only if the unrounded ratio meets it."""
    return math.floor(value * 100) / 100


def ratio(numerator: dict | None, denominator: dict | None) -> float | None:
    if not numerator or not denominator or not denominator["requests_per_second"]:
        return None
    return rounded_down(numerator["requests_per_second"] / denominator["requests_per_second"])


def comparison(view: str, clients: int, server: dict | None, against: str, reference: dict | None) -> dict | None:
    if not server or not reference:
        return None
    return {"view": view, "clients": clients, "server": server["server"], "against": against, "reference": reference["server"],
            "ratio": ratio(server, reference)}


def comparisons(rows: list[dict]) -> list[dict]:
    """Our defaults against each reference the issue names, per view and client count."""
    found = []
    for row in rows:
        if row["role"] != OURS:
            continue
        view, clients = row["view"], row["clients"]
        references = (
            [("best gunicorn peer", HAND_TUNED), ("granian", GRANIAN), ("raw WSGI or database ceiling", CEILING)] if view != STATIC_VIEW
            else [("WhiteNoise as middleware", STATIC_MIDDLEWARE), ("nginx ceiling", STATIC_CEILING)]
        )
        found += [comparison(view, clients, row, against, best_row(rows, role, view, clients)) for against, role in references]
    return [item for item in found if item]


def ours_ratio(found: list[dict], view: str, clients: int, against: str) -> float | None:
    return next((item["ratio"] for item in found if (item["view"], item["clients"], item["against"]) == (view, clients, against)), None)


def ratios_by_round(rows: list[dict], view: str, clients: int, reference_role: str) -> list[float] | None:
    """Ours over the best reference of the same round, round by round: how far the noise moves the verdict."""
    ours = best_row(rows, OURS, view, clients)
    references = [row for row in rows if row["role"] == reference_role and row["view"] == view and row["clients"] == clients]
    if not ours or not references:
        return None
    return [
        rounded_down(ours_rps / max(reference["rounds_rps"][index] for reference in references))
        for index, ours_rps in enumerate(ours["rounds_rps"])
    ]


def database_ceiling_row(connections: int, what: str) -> dict:
    """The physical limit for `connections` connections each held 50 ms per request, as a row of the table."""
    return {
        "server": f"ceiling: {connections} connections / {DATABASE_HOLD_SECONDS * 1000:g} ms ({what})", "role": CEILING, "view": DATABASE_VIEW, "clients": None,
        "requests_per_second": round(connections / DATABASE_HOLD_SECONDS, 1), "rounds_rps": None, "p50_ms": None, "p99_ms": None, "max_ms": None,
        "errors": None, "cpu_us_per_request": None, "peak_rss_mib": None, "peak_pss_mib": None, "peak_database_connections": connections,
    }


def database_checks(rows: list[dict], ceiling_rps: float, clients: int) -> list[tuple]:
    ours = best_row(rows, OURS, DATABASE_VIEW, clients)
    if not ours:
        return []
    clean_peers = [row for row in rows if (row["view"], row["clients"]) == (DATABASE_VIEW, clients)
                   and row["role"] in (HAND_TUNED, GRANIAN) and row["errors"] == 0]
    best_peer = max(clean_peers, key=lambda row: row["requests_per_second"], default=None)
    checks = [
        (f"DB @{clients}: ours, failed requests (all rounds)", ours["errors"], "<=", MAX_DATABASE_FAILURES, None),
        (f"DB @{clients}: ours / ceiling of our connection budget ({ceiling_rps:g} req/s)", rounded_down(ours["requests_per_second"] / ceiling_rps),
         ">=", MIN_DATABASE_VS_CEILING, [rounded_down(value / ceiling_rps) for value in ours["rounds_rps"]]),
    ]
    if best_peer:
        checks.append((f"DB @{clients}: ours / best peer that failed none ({best_peer['server']})", ratio(ours, best_peer), ">",
                       MIN_DATABASE_VS_PEERS, [rounded_down(a / b) for a, b in zip(ours["rounds_rps"], best_peer["rounds_rps"])]))
    return checks


def most_clients_checks(rows: list[dict], view: str, clients: int) -> list[tuple]:
    ours = best_row(rows, OURS, view, clients)
    if not ours:
        return []
    return [
        (f"{view} @{clients}: ours, errors (all rounds)", ours["errors"], "<=", MAX_ERRORS_AT_MOST_CLIENTS, None),
        (f"{view} @{clients}: ours, slowest answer ms", ours["max_ms"], "<", MAX_SLOWEST_MS, None),
    ]


def met(value, op: str, limit: float) -> bool:
    if value is None:
        return False
    return {">=": value >= limit, "<=": value <= limit, ">": value > limit, "<": value < limit}[op]


def target_checks(rows: list[dict], found: list[dict], cold_start_median: float, clients: tuple[int, ...], database_clients: tuple[int, ...],
                  database_ceiling_rps: float | None = None) -> list[dict]:
    fewest, most = clients[0], clients[-1]
    checks = [
        (f"JSON @{count}: ours / best gunicorn peer", ours_ratio(found, "json", count, "best gunicorn peer"), ">=", MIN_JSON_VS_GUNICORN_PEERS,
         ratios_by_round(rows, "json", count, HAND_TUNED))
        for count in dict.fromkeys((fewest, most))
    ]
    checks += [
        (f"JSON @{count}: ours / granian", ours_ratio(found, "json", count, "granian"), ">=", MIN_JSON_VS_GRANIAN,
         ratios_by_round(rows, "json", count, GRANIAN))
        for count in clients
    ]
    checks += [
        (f"I/O @{count}: ours / granian", ours_ratio(found, "io", count, "granian"), ">=",
         MIN_IO_VS_GRANIAN if count == fewest else MIN_IO_VS_GRANIAN_LOADED, ratios_by_round(rows, "io", count, GRANIAN))
        for count in clients
    ]
    if database_ceiling_rps:
        for count in database_clients:
            checks += database_checks(rows, database_ceiling_rps, count)
    for view, count in (("json", most), ("cpu", most), ("io", most), (DATABASE_VIEW, database_clients[-1])):
        checks += most_clients_checks(rows, view, count)
    checks.append(("cold start s (median)", cold_start_median, "<=", MAX_COLD_START_SECONDS, None))
    return [
        {"target": name, "measured": value, "needs": f"{op} {limit}", "by_round": by_round, "met": met(value, op, limit)}
        for name, value, op, limit, by_round in checks
    ]


def header_comparison(headers_a: dict, headers_b: dict) -> dict:
    """Whether two static responses carry the same headers: the issue's four, then every other one."""
    # Date, Last-Modified and ETag differ by when and where the file was collected;
    # Connection says whether the worker class keeps connections alive, not how static files are served.
    ignored = {"date", "last-modified", "etag", "connection"}

    def normalised(headers):
        return {name.lower(): value for name, value in headers.items() if name.lower() not in ignored}
    a, b = normalised(headers_a), normalised(headers_b)
    compared = {name: {"a": a.get(name.lower()), "b": b.get(name.lower())} for name in COMPARED_STATIC_HEADERS}
    other_differences = {name: {"a": a.get(name), "b": b.get(name)} for name in sorted(a.keys() | b.keys()) if a.get(name) != b.get(name)}
    return {
        "compared": compared,
        "compared_identical": all(pair["a"] == pair["b"] for pair in compared.values()),
        "all_differences": other_differences,
    }


def markdown_table(header: list[str], body: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join("" if cell is None else str(cell) for cell in row) + " |" for row in body]
    return "\n".join(lines)


CURVE_COLUMNS = (("requests_per_second", "req/s"), ("p50_ms", "p50 ms"), ("p99_ms", "p99 ms"), ("max_ms", "max ms"), ("errors", "errors"))


def curve_tables(rows: list[dict]) -> str:
    """A table per view: a row per server, a group of columns per client count. A row with no client count (a computed
    ceiling) fills every group."""
    tables = []
    for view in dict.fromkeys(row["view"] for row in rows):
        view_rows = [row for row in rows if row["view"] == view]
        counts = sorted({row["clients"] for row in view_rows if row.get("clients")})
        header = ["server", *(f"{title} @{count}" for count in counts for _, title in CURVE_COLUMNS)]
        body = []
        for server in dict.fromkeys(row["server"] for row in view_rows):
            by_count = {row.get("clients"): row for row in view_rows if row["server"] == server}
            cells = [by_count.get(count, by_count.get(None)) for count in counts]
            body.append([server, *((cell or {}).get(key) for cell in cells for key, _ in CURVE_COLUMNS)])
        tables += [f"### {view}", "", markdown_table(header, body), ""]
    return "\n".join(tables)


def rows_table(rows: list[dict]) -> str:
    return markdown_table([title for _, title in TABLE_COLUMNS], [[row[key] for key, _ in TABLE_COLUMNS] for row in rows])


def header_section(title: str, comparison: dict) -> list[str]:
    verdict = "identical" if comparison["compared_identical"] else "DIFFERENT"
    others = "all other headers identical too" if not comparison["all_differences"] else "other headers differ"
    lines = [f"### {title}: {', '.join(COMPARED_STATIC_HEADERS)} {verdict}; {others}", ""]
    lines.append(markdown_table(["header", "a", "b"], [[name, pair["a"], pair["b"]] for name, pair in comparison["compared"].items()]))
    if comparison["all_differences"]:
        lines += ["", "Every header that differs (Date, Last-Modified, ETag and Connection left out):", ""]
        lines.append(markdown_table(["header", "a", "b"], [[name, pair["a"], pair["b"]] for name, pair in comparison["all_differences"].items()]))
    return lines + [""]


def markdown_report(results: dict) -> str:
    meta = results["meta"]
    router = ("Every server but the static ceiling behind an nginx of its own that keeps its connections to the server alive, "
              "as a platform's router does (benchmarks/README.md, \"The router\"); wrk loads the nginx. "
              if meta["proxied"] else "Servers loaded directly, with no router in front. ")
    lines = [
        "# Gunicorn defaults benchmark",
        "",
        f"{meta['date']} · {meta['machine']} · template {meta['template']} · `{meta['load']}` on loopback, "
        f"servers side by side in one run. {router}CPU view: {meta['cpu_loops']} loops ≈ 5 ms; I/O view sleeps 50 ms; "
        f"the database view holds a PostgreSQL connection 50 ms (`SELECT pg_sleep(0.05)`), each server "
        f"against a PostgreSQL of its own with max_connections=20 (17 for the app's plain role; peers keep a connection per thread, "
        f"ours a pool per worker). "
        f"Static: `{meta['static_url']}` (bytes: {meta['static_bytes']}) with `Accept-Encoding: gzip, br`. "
        f"Whole run: {meta['runtime_seconds']} s. Load average (1 min) before/after: "
        f"{meta['load_average_1min']['before']:.1f}/{meta['load_average_1min']['after']:.1f} on {meta['machine'].split()[0]} CPUs.",
        "",
        "req/s, p50 and p99 are medians over the rounds, max the slowest answer of any round; errors (non-2xx responses, the "
        "router's 504 after 30 s among them, plus socket errors) are summed over them.",
        "",
        curve_tables(results["rows"]),
        "## Every row",
        "",
        rows_table(results["rows"]),
        "",
        "RSS is summed over master and workers, so pages a "
        "preloading master shares with its workers count once per process; PSS splits them and is the real total.",
        "",
        "## Ratios (req/s of server / req/s of reference)",
        "",
        markdown_table(["view", "clients", "server", "against", "reference", "ratio"],
                       [[c["view"], c["clients"], c["server"], c["against"], c["reference"], c["ratio"]] for c in results["comparisons"]]),
        "",
        "## Targets",
        "",
        markdown_table(["target", "measured (medians)", "needs", "met", "round by round"],
                       [[t["target"], t["measured"], t["needs"], "yes" if t["met"] else "**no**", t["by_round"]] for t in results["targets"]]),
        "",
        "\"Round by round\" divides ours by the best reference of the same round; the verdict is on the medians, as the issue defines it.",
        "",
        f"Cold start (spawn to first 200 on /healthz, our defaults): median {results['cold_start']['median_seconds']} s "
        f"of {results['cold_start']['samples_seconds']}.",
        "",
        f"Per-worker peak RSS, our defaults (MiB; a list per round, as each round starts the servers afresh; recycled workers included): {results['ours_worker_rss_mib']}.",
        "",
        "## Static response headers",
        "",
    ]
    lines += header_section("ours (a) vs WhiteNoise middleware (b)", results["static_headers"]["ours_vs_middleware"])
    return "\n".join(lines)
