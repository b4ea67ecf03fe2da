"""The heavy school's clients for test_tenant_fairness.py, run as a process of their own.

`heavy_load.py BASE KEY SCHOOL_ID CLIENTS`: school statements with random `as_of` and `limit`
until SIGINT, backing off for Retry-After after a 429; prints the outcomes as JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import sys
import time
from collections import Counter
from datetime import date, timedelta

import httpx


async def main(base: str, key: str, school_id: str, clients: int) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGINT, stop.set)
    outcomes: Counter[int] = Counter()
    seconds: list[float] = []
    rng = random.Random(1)
    days = [date(2026, 11, 20) - timedelta(days=d) for d in range(300)]
    headers = {"Authorization": f"Bearer {key}"}

    async def client() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=60) as http:
            while not stop.is_set():
                params: dict[str, str | int] = {
                    "as_of": rng.choice(days).isoformat(),
                    "limit": rng.randint(1, 200),
                }
                started = time.perf_counter()
                try:
                    response = await http.get(
                        f"/api/v1/schools/{school_id}/statement", params=params, headers=headers
                    )
                except httpx.TransportError:
                    outcomes[0] += 1
                    continue
                outcomes[response.status_code] += 1
                if response.status_code == 200:
                    seconds.append(time.perf_counter() - started)
                else:
                    with contextlib.suppress(TimeoutError):
                        wait = float(response.headers.get("Retry-After", 1))
                        await asyncio.wait_for(stop.wait(), wait)

    await asyncio.gather(*(client() for _ in range(clients)))
    print(json.dumps({"outcomes": outcomes, "seconds": seconds}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
