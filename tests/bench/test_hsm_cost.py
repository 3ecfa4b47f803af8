"""What a master key in an HSM costs (issue 16): a data key wrapped and unwrapped inside a
SoftHSM2 token over PKCS#11, beside the local master key in this process, measured in the
same run in CPU time (the machine is shared); then a fresh Keyring unwrapping 1,000 keys
(a cold cache, as a process that starts), from one thread and from four.

Run with `./run bench -k hsm_cost`; figures are printed, not asserted. The Keyring calls the
provider only on a cache miss (a child not seen for KEY_CACHE_TTL seconds).
"""

from __future__ import annotations

import os
import threading
import time
from typing import TYPE_CHECKING

import pytest

from deploy.hsm import Pkcs11KeyProvider
from domain.keyring import Keyring, LocalKeyProvider, MemoryKeyTable
from tests.softhsm import MODULE

if TYPE_CHECKING:
    from domain.keyring import KeyProvider
    from tests.softhsm import Token

pytestmark = pytest.mark.bench

PAIRS = 2_000
KEYS = 1_000
ROUNDS = 3  # best of


def pair_cpu_us(provider: KeyProvider) -> float:
    """CPU microseconds of one wrap and one unwrap."""
    key = os.urandom(32)
    started = time.process_time()
    for n in range(PAIRS):
        context = f"wardship-data-key:{n}".encode()
        provider.unwrap(provider.wrap(key, context), provider.master_key_id, context)
    return (time.process_time() - started) / PAIRS * 1e6


def cold_keyring_ms(provider: KeyProvider, table: MemoryKeyTable, threads: int) -> float:
    """Wall milliseconds for a fresh Keyring to unwrap every key of `table`, split between
    `threads` threads (as the API's request threads would)."""
    ring = Keyring(table, provider)
    ids = [f"child-{n}" for n in range(KEYS)]

    def unwrap(share: list[str]) -> None:
        for key_id in share:
            ring.data_key(key_id)

    workers = [threading.Thread(target=unwrap, args=(ids[n::threads],))
               for n in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return (time.perf_counter() - started) * 1e3


def test_an_hsm_wrap_against_a_local_one(hsm_token: Token) -> None:
    providers: dict[str, KeyProvider] = {
        "local": LocalKeyProvider({"m1": os.urandom(32)}),
        "pkcs11": Pkcs11KeyProvider(MODULE, hsm_token.label, hsm_token.pin, ["hsm-1"])}
    tables = {}
    for name, provider in providers.items():
        tables[name] = MemoryKeyTable()
        Keyring(tables[name], provider).ensure(f"child-{n}" for n in range(KEYS))
    best: dict[str, dict[str, float]] = {name: {} for name in providers}
    for _ in range(ROUNDS):
        for name, provider in providers.items():
            figures = {"wrap+unwrap, CPU us": pair_cpu_us(provider),
                       f"{KEYS} cold keys, 1 thread, ms": cold_keyring_ms(
                           provider, tables[name], 1),
                       f"{KEYS} cold keys, 4 threads, ms": cold_keyring_ms(
                           provider, tables[name], 4)}
            for figure, value in figures.items():
                best[name][figure] = min(best[name].get(figure, value), value)
    print(f"\n{'best of ' + str(ROUNDS):32s} {'local':>10s} {'pkcs11':>10s} {'ratio':>7s}")
    for figure, local in best["local"].items():
        hsm = best["pkcs11"][figure]
        print(f"{figure:32s} {local:10.1f} {hsm:10.1f} {hsm / local:6.1f}x")
