"""`python -m simulators [--host 127.0.0.1] [--base-port 0]`: run every simulator until SIGINT/SIGTERM.

Prints one `name url` line per system, then one JSON line `{"name": url, ...}`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal

from simulators.runner import start_simulators


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m simulators", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--base-port",
        type=int,
        default=0,
        help="first port; systems take consecutive ports (default 0: OS-chosen ports)",
    )
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.host, args.base_port))


async def _serve(host: str, base_port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with start_simulators(host, base_port=base_port) as simulators:
        for name, url in simulators.urls.items():
            print(f"{name} {url}", flush=True)
        print(json.dumps(simulators.urls), flush=True)
        await stop.wait()


if __name__ == "__main__":
    main()
