#!/usr/bin/env python3
"""A minimal stand-in for the portal's client socket, for fz-client's smoke test.

Accepts one WebSocket connection on 127.0.0.1:<port>, records the request target and the
User-Agent, answers phx_join and heartbeats, pushes `init` (one CIDR and one DNS resource, one
relay), and logs every frame the client sends, one JSON object per line, to <log>.
Usage: fake_portal.py <port> <log>
"""
import base64
import hashlib
import json
import socket
import struct
import sys

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
INIT = {
    "interface": {"ipv4": "100.64.0.2", "ipv6": "fd00:2021:1111::2", "upstream_dns": []},
    "resources": [
        {"id": "73037362-715d-4a83-a749-f18eadd970e6", "type": "cidr", "address": "10.0.0.0/24",
         "name": "net", "gateway_groups": [{"id": "bf56f32d-7b2c-4f5d-a784-788977d014a4", "name": "s"}]},
        {"id": "03000143-e25e-45c7-aafb-144990e57dcd", "type": "dns", "address": "app.internal",
         "name": "app", "gateway_groups": [{"id": "bf56f32d-7b2c-4f5d-a784-788977d014a4", "name": "s"}],
         "ip_stack": "dual"},
    ],
    "relays": [{"id": "0a133356-7a9e-4b9a-b413-0d95a5720fd8", "type": "turn", "addr": "127.0.0.1:3478",
                "username": "1999999999:salt", "password": "pw", "expires_at": 1999999999}],
}


def recv_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def recv_frame(conn):
    b0, b1 = recv_exact(conn, 2)
    length = b1 & 0x7F
    if length == 126:
        length = struct.unpack("!H", recv_exact(conn, 2))[0]
    elif length == 127:
        length = struct.unpack("!Q", recv_exact(conn, 8))[0]
    mask = recv_exact(conn, 4) if b1 & 0x80 else b"\0\0\0\0"
    payload = bytes(c ^ mask[i % 4] for i, c in enumerate(recv_exact(conn, length)))
    return b0 & 0x0F, payload


def send_text(conn, text):
    data = text.encode()
    header = bytes([0x81])
    if len(data) < 126:
        header += bytes([len(data)])
    elif len(data) < 65536:
        header += bytes([126]) + struct.pack("!H", len(data))
    else:
        header += bytes([127]) + struct.pack("!Q", len(data))
    conn.sendall(header + data)


def main():
    port, log_path = int(sys.argv[1]), sys.argv[2]
    log = open(log_path, "a", buffering=1)
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(1)
    conn, _ = server.accept()
    request = b""
    while b"\r\n\r\n" not in request:
        request += conn.recv(4096)
    lines = request.decode().split("\r\n")
    headers = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:] if ":" in l}
    log.write(json.dumps({"request": lines[0], "user_agent": headers.get("user-agent", "")}) + "\n")
    accept = base64.b64encode(hashlib.sha1((headers["sec-websocket-key"] + GUID).encode()).digest())
    conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
    while True:
        try:
            opcode, payload = recv_frame(conn)
        except (EOFError, ConnectionError):
            return
        if opcode == 8:
            return
        if opcode != 1:
            continue
        frame = json.loads(payload)
        log.write(json.dumps(frame) + "\n")
        if frame["event"] in ("phx_join", "heartbeat"):
            send_text(conn, json.dumps({"topic": frame["topic"], "event": "phx_reply", "ref": frame["ref"],
                                        "payload": {"status": "ok", "response": {}}}))
        if frame["event"] == "phx_join":
            send_text(conn, json.dumps({"topic": "client", "event": "init", "ref": None, "payload": INIT}))


if __name__ == "__main__":
    main()
