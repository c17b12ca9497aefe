"""Reads `perf script -F comm,tid,ip,sym` (with call graphs) on stdin and prints the share of
samples per component of a push: each sample goes to the first rule whose pattern matches a
frame of its stack, in the order below (so crypto inside the request builder counts as crypto).
Checking the browser's key is ECDH's first step, so it counts there. The last line relates all
of Herald's CPU to the key generation and ECDH a push cannot avoid, a ratio that does not
depend on how fast the machine is that day.
"""
import collections
import re
import sys

RULES = [
    ("crypto: ECDH with the browser key", r"evp_pkey.*agree|ECDH_compute|P256dhKey::from_bytes"),
    ("crypto: ephemeral key generation", r"SenderKeys::generate"),
    ("crypto: HKDF, AES-GCM, headers", r"herald_push::ece"),
    ("request building (VAPID header, TTL...)", r"PushMessage::build_at"),
    ("subscription parsing", r"Subscription::parse|subscription::"),
    ("TLS (rustls)", r"rustls"),
    ("HTTP/2 connection (h2)", r"h2::proto|h2::codec|h2::hpack|H2ClientFuture|h2::client"),
    ("HTTP client (reqwest, hyper)", r"reqwest|hyper"),
    ("SQLite and its driver thread", r"sqlite3|sqlx_sqlite"),
    ("storage (sqlx, herald::storage)", r"sqlx|herald::storage"),
    ("delivery engine", r"herald::delivery"),
    ("API", r"axum|herald::api"),
]


def samples(lines):
    head, stack = None, []
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            if head is not None:
                yield head, stack
            head, stack = None, []
        elif head is None:
            head = line
        else:
            parts = line.strip().split(None, 1)
            stack.append(parts[1] if len(parts) > 1 else "")
    if head is not None:
        yield head, stack


def main():
    rules = [(name, re.compile(pattern)) for name, pattern in RULES]
    shares, total = collections.Counter(), 0
    for _, stack in samples(sys.stdin):
        total += 1
        name = next((n for n, p in rules if any(p.search(f) for f in stack)), "other (runtime, kernel)")
        shares[name] += 1
    print(f"{total} samples")
    for name, count in shares.most_common():
        print(f"{100 * count / max(total, 1):5.1f}%  {name}")
    floor = shares["crypto: ECDH with the browser key"] + shares["crypto: ephemeral key generation"]
    if floor:
        # Issue 12's target, 65 µs per push when herald-bench's floor (key generation + ECDH)
        # was 38 µs, is 1.71 times that floor.
        print(f"Herald's CPU is {total / floor:.2f} times its key generation + ECDH (target: at most 1.71)")


main()
