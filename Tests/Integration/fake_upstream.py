"""A controllable OpenAI-compatible embeddings upstream for the gateway's failure tests and
load test: deterministic vectors (from a hash of each text), and a mode set by
`POST /mode {"mode": "good" | "garbage" | "error" | "slow"}`.
"""
import argparse
import functools
import base64
import hashlib
import json
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATE = {"mode": "good"}
LOCK = threading.Lock()


@functools.lru_cache(maxsize=4096)
def vector(text, dim):
    seed = hashlib.sha256(text.encode()).digest()
    out = []
    counter = 0
    while len(out) < dim:
        block = hashlib.sha256(seed + counter.to_bytes(4, "little")).digest()
        counter += 1
        for i in range(0, 32, 4):
            out.append(int.from_bytes(block[i:i + 4], "little") / 2**31 - 1.0)
    return out[:dim]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without this, Nagle's algorithm and delayed ACKs
    # add 40 ms to every keep-alive answer.
    disable_nagle_algorithm = True
    dim = 384

    def log_message(self, *a):
        pass

    def reply(self, code, body):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.reply(200, {"status": "ok"})

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        req = json.loads(self.rfile.read(n) or b"{}")
        if self.path == "/mode":
            with LOCK:
                STATE["mode"] = req["mode"]
            self.reply(200, {"mode": req["mode"]})
            return
        mode = STATE["mode"]
        if mode == "garbage":
            self.reply(200, b"this is not an embeddings answer")
            return
        if mode == "error":
            self.reply(500, {"error": {"message": "upstream failure", "type": "server_error"}})
            return
        if mode == "slow":
            time.sleep(5)
        texts = req["input"] if isinstance(req["input"], list) else [req["input"]]
        data = []
        for i, t in enumerate(texts):
            v = vector(t, self.dim)
            emb = base64.b64encode(struct.pack("<%df" % len(v), *v)).decode() if req.get("encoding_format") == "base64" else v
            data.append({"object": "embedding", "index": i, "embedding": emb})
        self.reply(200, {"object": "list", "data": data, "model": "fake", "usage": {"prompt_tokens": len(texts), "total_tokens": len(texts)}})


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dim", type=int, default=384)
    a = ap.parse_args()
    Handler.dim = a.dim
    # A deeper listen backlog than the default 5: the gateway opens connections in bursts under
    # load, and a dropped SYN costs a retransmission of a second or so.
    ThreadingHTTPServer.request_queue_size = 128
    server = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    server.daemon_threads = True
    print("fake upstream on 127.0.0.1:%d" % a.port, flush=True)
    server.serve_forever()
