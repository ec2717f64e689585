"""A TCP proxy a fault test controls: `python -m tests.tcp_proxy LISTEN_PORT TARGET_HOST TARGET_PORT`.

The web processes and workers of tests/test_chaos.py reach PostgreSQL through it, so the test can
cut their database connections without touching the shared server: SIGUSR1 cuts (every open
connection is reset and the port is closed: new connections are refused), SIGUSR2 listens again.
It prints "ready" once it listens. It runs in a process of its own, so relaying the database
traffic of a dozen processes does not compete with the test's simulated users for one GIL.
"""

from __future__ import annotations

import asyncio
import signal
import sys


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def main(listen: int, host: str, port: int) -> None:
    open_writers: set[asyncio.StreamWriter] = set()
    servers: list[asyncio.AbstractServer] = []

    async def relay(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(host, port)
        except OSError:
            client_writer.close()
            return
        pair = {client_writer, upstream_writer}
        open_writers.update(pair)
        try:
            await asyncio.gather(_pipe(client_reader, upstream_writer), _pipe(upstream_reader, client_writer))
        finally:
            open_writers.difference_update(pair)

    async def listen_again() -> None:
        if not servers:
            servers.append(await asyncio.start_server(relay, "127.0.0.1", listen, reuse_address=True))

    def cut() -> None:
        while servers:
            servers.pop().close()  # the port closes: connecting is refused
        for writer in list(open_writers):
            writer.transport.abort()  # a reset, as when a firewall or a failover drops the connection
        open_writers.clear()

    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, cut)
    loop.add_signal_handler(signal.SIGUSR2, lambda: loop.create_task(listen_again()))
    await listen_again()
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], int(sys.argv[3])))
