"""A TCP proxy that counts round trips: the times the client starts writing
again after the server has answered. Used by scripts/db-bench.sh between the
server's pool and Postgres. GET /count on the control port prints the count.
Usage: rt-proxy.py LISTEN_PORT UPSTREAM_PORT CONTROL_PORT"""
import asyncio, socket, sys

turns = 0


async def pipe(reader, writer, state, client_side):
    global turns
    try:
        while data := await reader.read(65536):
            if client_side and state["server_spoke"]:
                turns += 1
                state["server_spoke"] = False
            if not client_side:
                state["server_spoke"] = True
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def handle(creader, cwriter):
    sreader, swriter = await asyncio.open_connection("127.0.0.1", int(sys.argv[2]))
    for w in (cwriter, swriter):
        w.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    state = {"server_spoke": True}
    await asyncio.gather(pipe(creader, swriter, state, True), pipe(sreader, cwriter, state, False))


async def control(reader, writer):
    await reader.read(1024)
    body = str(turns).encode()
    writer.write(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    await writer.drain()
    writer.close()


async def main():
    await asyncio.start_server(handle, "127.0.0.1", int(sys.argv[1]))
    await asyncio.start_server(control, "127.0.0.1", int(sys.argv[3]))
    await asyncio.Event().wait()


asyncio.run(main())
