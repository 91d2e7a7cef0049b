"""http_serve.py: hostile HTTP requests against a live `ttt serve` (issue 22), a scenario of
attack.py. For each binary (release, sanitizer) one server is started on a tiny TTT model with
the GPT-2 tokenizer (r50k_base) and a ChatML template, on a free loopback port (--port 0: the port
is read from its "listening on" line), with an API key and small limits (FLAGS). Each case sends
raw bytes over a socket (no HTTP library: the requests are malformed on purpose) and names the
one status it must get: 2xx cases are "ok" when the reply passes its check, error cases are
"clear error" when the status is exactly the expected one and the body is an OpenAI error
({"error": {"message": ..., "type": ...}}) matching the case's pattern (libmicrohttpd's own
protocol errors, sent before the server sees the request, have an HTML body: those cases check
the status only), "closed" cases when the server closes the connection without a reply in time
(a body that never completes: libmicrohttpd cannot queue a reply while a body arrives). Any other
status is "unclear error" (or "silent wrong" for a 2xx where an error was due); no reply in time
is "hang"; a dead server "crash"; an ASan/UBSan report in its log "sanitizer".
After every case a valid request must get 200 and the same text as before the first case (the
server keeps serving, and serves the same); the slow clients (a trickling body, a body that stops,
64 idle connections) are checked while they hold their connection. At the end SIGTERM: the server
must exit 0, log "stopped" and no sanitizer report. A case that kills the server is reported and
the server restarted for the rest. Cases marked quick run in `attack.py --quick` (make test)."""
import json
import os
import re
import select
import signal
import socket
import subprocess
import threading
import time

KEY = "sekrit"
NAME = "tiny"
MAX_BODY = 131072
BODY_TIMEOUT = 1
MAX_PROMPT = 1024
FLAGS = ["--port", "0", "--threads", "1", "--name", NAME, "--api-key", KEY, "--max-body", str(MAX_BODY),
         "--body-timeout", str(BODY_TIMEOUT), "--max-tokens-cap", "100", "--max-prompt", str(MAX_PROMPT),
         "--parallel", "2", "--queue", "2"]
CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
          "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
PROBE = {"prompt": "The server keeps serving", "max_tokens": 4, "temperature": 0.8, "seed": 7}
SAN_RX = re.compile(r"ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer|UndefinedBehaviorSanitizer")
OK = "ok"
CASES = []


def case(cid, send, expect, pattern=None, openai=True, quick=False, head=False):
    """send: the request's bytes, or a function (ctx) -> (class, detail) for a case of several
    steps; expect: the status (int), or "closed"; pattern: a regular expression over the reply"""
    CASES.append(dict(id="serve-http-" + cid, send=send, expect=expect, pattern=pattern, openai=openai, quick=quick,
                      head=head))


def req(method, path, body=None, key=KEY, headers=(), close=True, length=None):
    """the bytes of one HTTP/1.1 request; body str/bytes/dict (dict: as JSON)"""
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    h = ["%s %s HTTP/1.1" % (method, path), "Host: 127.0.0.1"]
    if key is not None:
        h.append("Authorization: Bearer " + key)
    if body is not None:
        h.append("Content-Type: application/json")
    if body is not None or length is not None:
        h.append("Content-Length: %d" % (len(body) if length is None else length))
    if close:
        h.append("Connection: close")
    h += list(headers)
    return ("\r\n".join(h) + "\r\n\r\n").encode() + (body or b"")


def post(body, path="/v1/completions", **kw):
    return req("POST", path, body, **kw)


def parse(buf, head=False):
    """the responses in buf, [(status, {header: value}, body)]; 1xx interim replies skipped"""
    out = []
    while buf:
        i = buf.find(b"\r\n\r\n")
        if i < 0:
            break
        lines = buf[:i].decode("latin-1").split("\r\n")
        m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
        if not m:
            break
        st, hd, rest = int(m.group(1)), {}, buf[i + 4:]
        for line in lines[1:]:
            k, _, v = line.partition(":")
            hd[k.strip().lower()] = v.strip()
        if 100 <= st < 200:
            buf = rest
            continue
        if head or st in (204, 304):
            body, buf = b"", rest
        elif "content-length" in hd:
            n = int(hd["content-length"])
            body, buf = rest[:n], rest[n:]
        elif "chunked" in hd.get("transfer-encoding", "").lower():
            body, buf = b"", rest
            while True:
                j = buf.find(b"\r\n")
                if j < 0:
                    break
                n = int(buf[:j].split(b";")[0] or b"0", 16)
                body, buf = body + buf[j + 2:j + 2 + n], buf[j + 4 + n:]
                if n == 0:
                    break
        else:
            body, buf = rest, b""
        out.append((st, hd, body))
    return out


def exchange(port, data, timeout, head=False, shut=False):
    """send data (a body in pieces, stopping when the server has already answered, as curl does),
    read until the server closes; (responses, closed, timed_out, seconds)"""
    t0 = time.time()
    deadline = t0 + timeout
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    buf, closed, timed_out = b"", False, False
    try:
        try:
            for k in range(0, len(data), 16384):
                s.sendall(data[k:k + 16384])
                if select.select([s], [], [], 0)[0]:
                    break
            if shut:
                s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server answered (413) and closed while the body was sent: read its reply
        while True:
            left = deadline - time.time()
            if left <= 0:
                timed_out = True
                break
            if not select.select([s], [], [], left)[0]:
                continue
            try:
                b = s.recv(65536)
            except OSError:
                b = b""
            if not b:
                closed = True
                break
            buf += b
    finally:
        s.close()
    return parse(buf, head), closed, timed_out, time.time() - t0


def openai_error(body):
    """None if body is an OpenAI error object, else what is wrong with it"""
    try:
        j = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return "the body is not JSON: %r" % body[:120]
    e = j.get("error") if isinstance(j, dict) else None
    if not isinstance(e, dict) or not isinstance(e.get("message"), str) or not isinstance(e.get("type"), str):
        return "not an OpenAI error body: %r" % body[:120]
    return None


def judge(c, resps, closed, timed_out):
    """the class of a one-request case's outcome"""
    exp = c["expect"]
    if exp == "closed":
        if resps:
            st = resps[0][0]
            return ("silent wrong" if st < 300 else "unclear error"), "status %d where the connection was to be closed" % st
        if timed_out:
            return "hang", "the connection was still open at the timeout"
        return "clear error", ""
    if not resps:
        return ("hang", "no reply within the timeout") if timed_out else ("unclear error", "closed without a reply")
    st, hd, body = resps[0]
    text = body.decode("utf-8", "replace")
    if st != exp:
        return ("silent wrong" if st < 300 <= exp else "unclear error"), "status %d, expected %d: %s" % (st, exp, text[:160])
    if exp >= 400 and c["openai"]:
        bad = openai_error(body)
        if bad:
            return "unclear error", bad
    if c["pattern"] and not re.search(c["pattern"], text, re.S):
        return ("silent wrong" if exp < 300 else "unclear error"), "the reply does not match /%s/: %s" % (c["pattern"], text[:160])
    return ("ok" if exp < 300 else "clear error"), ""


class Server:
    def __init__(self, ttt, model, env, d, wait):
        self.ttt, self.model, self.env, self.d, self.wait = ttt, model, env, d, wait
        self.n = 0
        self.start()

    def start(self):
        self.n += 1
        self.log = os.path.join(self.d, "serve-%d.log" % self.n)
        with open(self.log, "wb") as f:
            self.p = subprocess.Popen([self.ttt, "serve", "--model", self.model] + FLAGS, stdout=f, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, env=self.env, start_new_session=True)
        self.seen = 0
        t = time.time() + self.wait
        while time.time() < t:
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", self.text())
            if m:
                self.port = int(m.group(1))
                return
            if self.p.poll() is not None:
                break
            time.sleep(0.05)
        self.kill()
        raise RuntimeError("ttt serve did not start: " + self.text()[-400:])

    def text(self):
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def new_log(self):
        """the log since the last call"""
        t = self.text()
        new, self.seen = t[self.seen:], len(t)
        return new

    def kill(self):
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGKILL)
            self.p.wait()


class Ctx:
    """what a case of several steps sees: the server's port, the timeout, the probe"""

    def __init__(self, srv, timeout, probe_text):
        self.srv, self.timeout, self.probe_text = srv, timeout, probe_text

    @property
    def port(self):
        return self.srv.port

    def x(self, data, **kw):
        return exchange(self.port, data, kw.pop("timeout", self.timeout), **kw)

    def one(self, data, **kw):
        """(status, body text) of one request; status None without a reply"""
        r, _, _, _ = self.x(data, **kw)
        return (r[0][0], r[0][2].decode("utf-8", "replace")) if r else (None, "")

    def probe(self):
        """None if a valid request gets 200 and the text it got before the first case"""
        r, _, timed_out, _ = self.x(post(PROBE))
        if not r:
            return "no reply to a valid request" + (" within the timeout" if timed_out else "")
        st, _, body = r[0]
        try:
            text = json.loads(body)["choices"][0]["text"]
        except (ValueError, KeyError, IndexError, TypeError):
            return "a valid request got %d %r" % (st, body[:160])
        if st != 200 or (self.probe_text is not None and text != self.probe_text):
            return "a valid request got %d and %r, expected 200 and %r" % (st, text, self.probe_text)
        return None


# ---- cases of several steps --------------------------------------------------------------------
def while_held(ctx, hold, limit):
    """run hold() (a slow client) in a thread; valid requests meanwhile must succeed; hold() returns
    (closed, seconds); the connection must be closed within limit seconds"""
    res = {}
    th = threading.Thread(target=lambda: res.update(r=hold()))
    th.start()
    probes, err = 0, None
    while th.is_alive():
        time.sleep(0.3)
        if th.is_alive():
            err = err or ctx.probe()
            probes += 1
    th.join()
    closed, secs = res.get("r", (False, 0))
    if err:
        return "unclear error", "while a slow client held its connection: " + err
    if not closed:
        return "hang", "the slow client's connection was not closed within %.0f s" % secs
    if secs > limit:
        return "unclear error", "the connection was closed after %.1f s (--body-timeout %d)" % (secs, BODY_TIMEOUT)
    if probes == 0:
        return "unclear error", "closed before any other request was tried (%.1f s)" % secs
    return "clear error", "closed after %.1f s, %d requests served meanwhile" % (secs, probes)


def slow_client(ctx, head, trickle, per_s, limit):
    """send head, then trickle one byte at a time at per_s bytes/s (or nothing): (closed, seconds)"""
    def hold():
        t0 = time.time()
        s = socket.create_connection(("127.0.0.1", ctx.port), timeout=limit + 5)
        try:
            s.sendall(head)
            for i in range(len(trickle)):
                if select.select([s], [], [], 1.0 / per_s)[0]:
                    break
                s.sendall(trickle[i:i + 1])
            s.settimeout(max(0.1, limit + 5 - (time.time() - t0)))
            return s.recv(4096) == b"", time.time() - t0
        except socket.timeout:
            return False, time.time() - t0
        except OSError:  # reset or broken pipe: closed
            return True, time.time() - t0
        finally:
            s.close()
    return hold


def c_slowloris(ctx):
    body = b'{"prompt": "hi"}' + b" " * 200
    head = req("POST", "/v1/completions", length=len(body))
    return while_held(ctx, slow_client(ctx, head, body, 5, ctx.slack), ctx.slack)


def c_length_lies_open(ctx):
    head = req("POST", "/v1/completions", length=100) + b'{"prompt": '
    return while_held(ctx, slow_client(ctx, head, b"", 1, ctx.slack), ctx.slack)


def c_idle_connections(ctx):
    socks = []
    try:
        for _ in range(64):
            socks.append(socket.create_connection(("127.0.0.1", ctx.port), timeout=ctx.timeout))
        for s in socks[:32]:  # half of them a request line and part of the headers
            s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\n")
        err = ctx.probe()
    finally:
        for s in socks:
            s.close()
    return ("unclear error", "with 64 idle connections open: " + err) if err else ("ok", "")


def c_pipelined(ctx):
    r, _, _, _ = ctx.x(post(PROBE, close=False) * 2 + post(PROBE))
    texts = [json.loads(b)["choices"][0]["text"] if st == 200 else st for st, _, b in r]
    if texts != [ctx.probe_text] * 3:
        return "silent wrong", "3 pipelined requests: %r" % texts
    return "ok", ""


def c_keepalive_after_error(ctx):
    r, _, _, _ = ctx.x(post('{"prompt": ', close=False) + post({"prompt": 5}, close=False) + post(PROBE))
    st = [x[0] for x in r]
    if st != [400, 400, 200] or json.loads(r[2][2])["choices"][0]["text"] != ctx.probe_text:
        return "unclear error", "statuses on one connection: %r (expected [400, 400, 200])" % st
    return "ok", ""


def c_session_flow(ctx):
    steps = [(post({"prompt": "Remember this.", "max_tokens": 0, "session": "s-1"}), 200),
             (req("GET", "/v1/sessions/s-1"), 200), (req("GET", "/v1/sessions"), 200),
             (req("DELETE", "/v1/sessions/s-1"), 200), (req("DELETE", "/v1/sessions/s-1"), 404),
             (req("GET", "/v1/sessions/s-1"), 404)]
    for data, want in steps:
        st, body = ctx.one(data)
        if st != want:
            return "unclear error", "%s: %s, expected %d: %s" % (data.split(b"\r\n")[0].decode(), st, want, body[:160])
    return "ok", ""


def c_queue_full(ctx):
    """16 requests at once on --parallel 2 --queue 2: each gets 200 (the text it gets alone) or 429
    with the OpenAI rate-limit body; at least one 429"""
    body = dict(PROBE, max_tokens=60)
    alone = ctx.one(post(body))
    out = [None] * 16

    def go(i):
        out[i] = ctx.one(post(body))
    th = [threading.Thread(target=go, args=(i,)) for i in range(16)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    want = json.loads(alone[1])["choices"]
    n429 = 0
    for st, text in out:
        if st == 429:
            n429 += 1
            if openai_error(text.encode()) or '"code":"queue_full"' not in text:
                return "unclear error", "a 429 without the OpenAI queue_full body: " + text[:160]
        elif st != 200 or json.loads(text)["choices"] != want:
            return "silent wrong", "a reply under load differs from the request alone: %s %s" % (st, text[:160])
    if not n429:
        return "unclear error", "16 requests at once on --queue 2: no 429"
    return "clear error", "%d of 16 got 429" % n429


def c_disconnect_mid_stream(ctx):
    s = socket.create_connection(("127.0.0.1", ctx.port), timeout=ctx.timeout)
    s.sendall(post(dict(PROBE, max_tokens=100, stream=True)))
    got = s.recv(100)
    s.close()
    if not got.startswith(b"HTTP/1.1 200"):
        return "unclear error", "the stream did not start: %r" % got
    return "ok", ""


def c_stream_equals(ctx):
    r, _, _, _ = ctx.x(post(dict(PROBE, stream=True)))
    if not r or r[0][0] != 200 or "text/event-stream" not in r[0][1].get("content-type", ""):
        return "unclear error", "no event stream: %r" % (r[:1],)
    ev = [e[6:] for e in r[0][2].decode().split("\n\n") if e.startswith("data: ")]
    if not ev or ev[-1] != "[DONE]":
        return "silent wrong", "the stream does not end with [DONE]: %r" % ev[-2:]
    text = "".join(c["text"] for e in ev[:-1] for c in json.loads(e).get("choices", []))
    if text != ctx.probe_text:
        return "silent wrong", "streamed %r, expected %r" % (text, ctx.probe_text)
    return "ok", ""


def c_length_lies_close(ctx):
    """Content-Length 100, 11 bytes sent, then the client shuts its sending side: no reply can
    come; the connection is closed at once (not left waiting)"""
    r, closed, to, _ = ctx.x(req("POST", "/v1/completions", length=100) + b'{"prompt": ', shut=True)
    return judge(dict(expect="closed"), r, closed, to)


def c_huge_chunked(ctx):
    body = b"".join(b"%x\r\n" % 16384 + b" " * 16384 + b"\r\n" for _ in range(10)) + b"0\r\n\r\n"
    head = req("POST", "/v1/completions", headers=["Transfer-Encoding: chunked"])
    r, _, to, _ = ctx.x(head + body)
    c = dict(expect=413, openai=True, pattern=r"--max-body")
    return judge(c, r, False, to)


# ---- the table ---------------------------------------------------------------------------------
P = "/v1/completions"
C = "/v1/chat/completions"
J = r"not valid JSON"
# bodies that are not a JSON object
case("bad-json", post('{"prompt": "hi"'), 400, J, quick=True)
case("truncated-json", post('{"prompt": "hi", "max_tok'), 400, J)
case("empty-body", post(""), 400, J)
case("no-body", req("POST", P), 400, J)
case("json-array", post("[1, 2]"), 400, r"JSON object")
case("json-string", post('"hello"'), 400, r"JSON object")
case("json-null", post("null"), 400, r"JSON object")
case("trailing-data", post('{"prompt": "hi"} x'), 400, r"data after the JSON value")
case("two-objects", post('{"prompt": "hi"} {"prompt": "hi"}'), 400, r"data after the JSON value")
case("nested-100000", post("[" * 100000), 400, J)
case("nested-in-field", post('{"prompt": ' + "[" * 5000 + "]" * 5000 + "}"), 400, J)
case("nan-literal", post('{"prompt": "hi", "temperature": NaN}'), 400, J)
case("lone-surrogate", post('{"prompt": "a\\ud800b"}'), 400, J)
case("invalid-utf8", post(b'{"prompt": "caf\xe9 \xff"}'), 400, r"not valid UTF-8")
case("overlong-utf8", post(b'{"prompt": "\xc0\xaf"}'), 400, r"not valid UTF-8")
case("nul-escape-prompt", post('{"prompt": "before\\u0000after"}'), 400, r"u0000.*NUL", quick=True)
case("nul-escape-stop", post('{"prompt": "hi", "stop": "\\u0000"}'), 400, r"NUL")
case("nul-escape-session", post('{"prompt": "hi", "session": "a\\u0000/../b"}'), 400, r"NUL")
case("nul-raw", post(b'{"prompt": "a\x00b"}'), 400, r"NUL byte")
case("escaped-backslash-u0000", post('{"prompt": "a\\\\u0000", "max_tokens": 1}'), 200, r'"choices"')
case("unicode-prompt", post({"prompt": "caf\u00e9 \u4e16\u754c \U0001f600", "max_tokens": 1}), 200, r'"choices"')
# wrong types and ranges
case("max-tokens-string", post({"prompt": "hi", "max_tokens": "ten"}), 400, r'"param":"max_tokens"', quick=True)
case("max-tokens-fraction", post({"prompt": "hi", "max_tokens": 2.5}), 400, r'"param":"max_tokens"')
case("max-tokens-bool", post({"prompt": "hi", "max_tokens": True}), 400, r'"param":"max_tokens"')
case("max-tokens-huge", post({"prompt": "hi", "max_tokens": 1000000000}), 400, r"limit of 100")
case("max-tokens-1e300", post('{"prompt": "hi", "max_tokens": 1e300}'), 400, r'"param":"max_tokens"')
case("max-tokens-1e999", post('{"prompt": "hi", "max_tokens": 1e999}'), 400, r'"param":"max_tokens"')
case("max-tokens-negative", post({"prompt": "hi", "max_tokens": -1}), 400, r'"param":"max_tokens"')
case("temperature-string", post({"prompt": "hi", "temperature": "hot"}), 400, r'"param":"temperature"')
case("temperature-negative", post({"prompt": "hi", "temperature": -1}), 400, r'"param":"temperature"')
case("temperature-3", post({"prompt": "hi", "temperature": 3}), 400, r'"param":"temperature"')
case("top-p-0", post({"prompt": "hi", "top_p": 0}), 400, r'"param":"top_p"')
case("top-p-1.5", post({"prompt": "hi", "top_p": 1.5}), 400, r'"param":"top_p"')
case("top-k-fraction", post({"prompt": "hi", "top_k": 1.5}), 400, r'"param":"top_k"')
case("seed-string", post({"prompt": "hi", "seed": "x"}), 400, r'"param":"seed"')
case("stop-number", post({"prompt": "hi", "stop": 5}), 400, r'"param":"stop"')
case("stop-empty", post({"prompt": "hi", "stop": ""}), 400, r'"param":"stop"')
case("stop-five", post({"prompt": "hi", "stop": list("abcde")}), 400, r'"param":"stop"')
case("stop-list-number", post({"prompt": "hi", "stop": [1]}), 400, r'"param":"stop"')
case("n-0", post({"prompt": "hi", "n": 0}), 400, r'"param":"n"')
case("n-10000", post({"prompt": "hi", "n": 10000}), 400, r'"param":"n"')
case("n-string", post({"prompt": "hi", "n": "2"}), 400, r'"param":"n"')
case("n-times-prompts", post({"prompt": ["a", "b"], "n": 16}), 400, r"--max-n")
case("n-with-session", post({"prompt": "hi", "n": 2, "session": "s"}), 400, r'"param":"n"')
case("stream-string", post({"prompt": "hi", "stream": "yes"}), 400, r'"param":"stream"')
case("stream-bad-field", post({"prompt": "hi", "stream": True, "n": 0}), 400, r'"param":"n"')
case("echo-number", post({"prompt": "hi", "echo": 1}), 400, r'"param":"echo"')
case("logprobs-100", post({"prompt": "hi", "logprobs": 100}), 400, r'"param":"logprobs"')
case("stream-options-number", post({"prompt": "hi", "stream_options": 3}), 400, r'"param":"stream_options"')
case("model-number", post({"prompt": "hi", "model": 5}), 400, r'"param":"model"')
case("session-traversal", post({"prompt": "hi", "session": "../x"}), 400, r'"param":"session"')
case("session-long", post({"prompt": "hi", "session": "s" * 65}), 400, r'"param":"session"')
case("session-number", post({"prompt": "hi", "session": 5}), 400, r'"param":"session"')
case("presence-penalty", post({"prompt": "hi", "presence_penalty": 1}), 400, r"not supported")
case("logit-bias", post({"prompt": "hi", "logit_bias": {"1": 5}}), 400, r'"param":"logit_bias"')
case("best-of", post({"prompt": "hi", "best_of": 2}), 400, r'"param":"best_of"')
case("tools", post({"prompt": "hi", "tools": [{"type": "function"}]}), 400, r'"param":"tools"')
# prompts
case("prompt-missing", post({}), 400, r"required")
case("prompt-null", post({"prompt": None}), 400, r"required")
case("prompt-number", post({"prompt": 7}), 400, r'"param":"prompt"')
case("prompt-object", post({"prompt": {}}), 400, r'"param":"prompt"')
case("prompt-empty-list", post({"prompt": []}), 400, r'"param":"prompt"')
case("prompt-empty-string", post({"prompt": ""}), 400, r"no tokens")
case("prompt-mixed-list", post({"prompt": [[1, 2], "x"]}), 400, r"must all be strings or all lists")
case("prompt-65-strings", post({"prompt": ["a"] * 65}), 400, r"more than 64")
case("prompt-too-long", post({"prompt": "word " * 3000}), 400, r"--max-prompt")
case("prompt-60000-ids", post('{"prompt": [' + ",".join(["1"] * 60000) + "]}"), 400, r"--max-prompt")
case("token-id-vocab", post({"prompt": [50256, 50257]}), 400, r"token 1 .*not an id in \[0, 50257\)")
case("token-id-negative", post({"prompt": [-1]}), 400, r"not an id")
case("token-id-fraction", post({"prompt": [1.5]}), 400, r"not an id")
case("token-id-1e20", post({"prompt": [1e20]}), 400, r"not an id")
case("token-id-string-mix", post({"prompt": [1, "a"]}), 400, r"not an id")
case("token-id-ok", post({"prompt": [50256, 15496, 995], "max_tokens": 0, "echo": True, "logprobs": 1}), 200,
     r'"token_logprobs":\[null,')
# chat (the model has a ChatML template)
case("chat-ok", post({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}, C), 200, r'"message"')
case("chat-messages-object", post({"messages": {"role": "user", "content": "hi"}}, C), 400, r'"param":"messages"')
case("chat-messages-empty", post({"messages": []}, C), 400, r'"param":"messages"')
case("chat-messages-missing", post({}, C), 400, r'"param":"messages"')
case("chat-role-missing", post({"messages": [{"content": "hi"}]}, C), 400, r"role")
case("chat-role-system", post({"messages": [{"role": "system", "content": "hi"}]}, C), 400, r"expected 'user'")
case("chat-content-number", post({"messages": [{"role": "user", "content": 5}]}, C), 400, r"content")
case("chat-content-image", post({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, C), 400,
     r"text content parts")
case("chat-two-messages", post({"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]}, C),
     400, r"one user message")
case("chat-message-string", post({"messages": ["hi"]}, C), 400, r'"param":"messages"')
case("chat-echo", post({"messages": [{"role": "user", "content": "hi"}], "echo": True}, C), 400, r'"param":"echo"')
case("chat-top-logprobs-alone", post({"messages": [{"role": "user", "content": "hi"}], "top_logprobs": 2}, C), 400,
     r'"param":"top_logprobs"')
case("chat-max-completion-string", post({"messages": [{"role": "user", "content": "hi"}],
                                         "max_completion_tokens": "x"}, C), 400, r'"param":"max_completion_tokens"')
# routes and methods
case("unknown-path", req("GET", "/v1/nothing"), 404, r"no route")
case("unknown-path-post", post({"prompt": "hi"}, "/v2/completions"), 404, r"no route")
case("get-completions", req("GET", P), 405, r"not allowed")
case("put-chat", req("PUT", C, "{}"), 405, r"not allowed")
case("post-health", req("POST", "/health", "{}"), 405, r"not allowed on /health")
case("delete-page", req("DELETE", "/"), 405, r"not allowed on /")
case("head-health", req("HEAD", "/health"), 200, None, head=True)
case("post-models", req("POST", "/v1/models", "{}"), 405, r"not allowed")
case("model-unknown", req("GET", "/v1/models/other"), 404, r"model_not_found")
case("model-known", req("GET", "/v1/models/" + NAME), 200, r'"id":"%s"' % NAME)
case("sessions-delete-all", req("DELETE", "/v1/sessions"), 405, r"use GET")
case("session-unknown-get", req("GET", "/v1/sessions/nope"), 404, r"session_not_found", quick=True)
case("session-unknown-delete", req("DELETE", "/v1/sessions/nope"), 404, r"session_not_found")
case("session-post", req("POST", "/v1/sessions/nope", "{}"), 405, r"GET or DELETE")
case("session-path-traversal", req("GET", "/v1/sessions/../../etc/passwd"), 404, r"session_not_found")
case("session-flow", c_session_flow, OK)
# the API key
case("key-missing", post({"prompt": "hi"}, key=None), 401, r"invalid_api_key", quick=True)
case("key-wrong", req("GET", "/v1/models", key="wrong"), 401, r"invalid_api_key")
case("key-prefix", req("GET", "/v1/models", key=KEY[:-1]), 401, r"invalid_api_key")
case("key-longer", req("GET", "/v1/models", key=KEY + "x"), 401, r"invalid_api_key")
case("key-empty", req("GET", "/v1/models", key=""), 401, r"invalid_api_key")
case("key-basic", req("GET", "/v1/models", key=None, headers=["Authorization: Basic " + KEY]), 401, r"invalid_api_key")
case("key-scheme-lowercase", req("GET", "/v1/models", key=None, headers=["Authorization: bearer " + KEY]), 200, r'"list"')
case("key-before-json", post('{"prompt": ', key="wrong"), 401, r"invalid_api_key")
case("key-metrics", req("GET", "/metrics", key=None), 401, r"invalid_api_key")
case("key-not-for-health", req("GET", "/health", key=None), 200, r'"ok"')
case("key-not-for-page", req("GET", "/", key=None), 200, r"/v1/completions")
# sizes and framing
case("body-oversized", post('{"prompt": "' + "a" * 200000 + '"}'), 413, r"--max-body", quick=True)
case("length-oversized-declared", req("POST", P, length=10 ** 12), 413, r"--max-body")
case("length-oversized-expect-100", req("POST", P, length=10 ** 6, headers=["Expect: 100-continue"]), 413, r"--max-body")
case("chunked-oversized", c_huge_chunked, "HTTP 413")
case("chunked-ok", req("POST", P, headers=["Transfer-Encoding: chunked"]) + b"%x\r\n%s\r\n0\r\n\r\n" % (
    len(json.dumps(PROBE)), json.dumps(PROBE).encode()), 200, r'"choices"')
case("chunked-bad", req("POST", P, headers=["Transfer-Encoding: chunked"]) + b"zz\r\nabc\r\n0\r\n\r\n", 400, None,
     openai=False)
case("length-not-a-number", req("POST", P, length=None, headers=["Content-Length: abc"]) + b"{}", 400, None, openai=False)
case("length-negative", req("POST", P, headers=["Content-Length: -5"]) + b"{}", 400, None, openai=False)
case("length-twice", req("POST", P, headers=["Content-Length: 2", "Content-Length: 40"]) + b"{}" + b" " * 38, 400,
     r"more than one Content-Length")
case("length-and-chunked", req("POST", P, length=2, headers=["Transfer-Encoding: chunked"]) + b"2\r\n{}\r\n0\r\n\r\n", 400,
     r"both Content-Length and Transfer-Encoding")
case("length-short", req("POST", P, length=10) + b'{"prompt": "hi", "max_tokens": 1}', 400, J)
case("length-lies-then-close", c_length_lies_close, "closed")
case("length-lies-open", c_length_lies_open, "closed")
case("slowloris-body", c_slowloris, "closed", quick=True)
# the protocol
case("garbage-request-line", b"GARBAGE\x01 garbage\r\n\r\n", 400, None, openai=False)
# a TLS ClientHello on the plain port (with an end of headers, or libmicrohttpd waits for one):
# not a request line at all, so libmicrohttpd closes the connection without a reply
case("tls-client-hello", bytes.fromhex("16030100a5010000a10303") + bytes(range(32)) + b"\x00" * 40 + b"\r\n\r\n", "closed")
case("http-2.0", b"GET /health HTTP/2.0\r\nHost: x\r\n\r\n", 505, None, openai=False)
case("header-100k", req("GET", "/health", headers=["X-Big: " + "a" * 100000]), 431, None, openai=False)
case("url-100k", req("GET", "/" + "a" * 100000), 414, None, openai=False)
case("http-1.0-no-host", b"GET /health HTTP/1.0\r\n\r\n", 200, r'"ok"')
case("pipelined", c_pipelined, OK)
case("keepalive-after-errors", c_keepalive_after_error, OK)
case("idle-connections-64", c_idle_connections, OK)
case("disconnect-mid-stream", c_disconnect_mid_stream, OK)
case("stream-equals-reply", c_stream_equals, OK)
case("queue-full-429", c_queue_full, "HTTP 429")


def expected(c):
    e = c["expect"]
    return OK if e == OK or (isinstance(e, int) and e < 300) else (e if isinstance(e, str) else "HTTP %d" % e)


def serve_model(runner):
    """a tiny TTT model with the GPT-2 tokenizer and a ChatML template, made once per run"""
    d = runner.fx.path("model-serve")
    if not os.path.isdir(d):
        tok = runner.fx.tokenizer("r50k_base.tiktoken")
        r = subprocess.run([runner.args.ttt, "init", "--preset", "ttt-linear-tiny", "--layers", "1", "--width", "8", "--heads",
                            "2", "--intermediate", "8", "--vocab", "50257", "--bos", "50256", "--eos", "50256",
                            "--tokenizer", tok, "--out", d], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("ttt init: " + r.stderr)
        p = os.path.join(d, "tokenizer_config.json")
        with open(p) as f:
            tc = json.load(f)
        tc["chat_template"] = CHATML
        with open(p, "w") as f:
            json.dump(tc, f)
    return d


def run(runner, bname, ttt, timeout, env):
    """every selected case against one server of binary ttt; results go to runner.record"""
    cases = [c for c in CASES if c["quick"] or not runner.args.quick]
    if runner.args.only:
        cases = [c for c in cases if re.search(runner.args.only, c["id"])]
    if not cases:
        return
    if not runner.fx.tokenizer("r50k_base.tiktoken"):
        runner.results.append(("serve-http", "-", "skipped", "error", "needs data/tok/r50k_base.tiktoken", True))
        return
    d = runner.fresh()
    try:
        srv = Server(ttt, serve_model(runner), env, d, timeout * 3)
    except Exception as e:  # noqa: BLE001
        runner.record("serve-http-start", bname, "setup error", OK, str(e)[-300:])
        return
    ctx = Ctx(srv, timeout / 2, None)
    ctx.slack = BODY_TIMEOUT + (3 if bname == "release" else 8)
    err = ctx.probe()
    if err:
        srv.kill()
        runner.record("serve-http-start", bname, "unclear error", OK, err)
        return
    ctx.probe_text = json.loads(ctx.x(post(PROBE))[0][0][2])["choices"][0]["text"]
    for c in cases:
        if callable(c["send"]):
            try:
                cls, detail = c["send"](ctx)
            except Exception as e:  # noqa: BLE001 (a broken exchange is a finding, not a crash of the suite)
                cls, detail = "unclear error", "%s: %s" % (type(e).__name__, e)
        else:
            r, closed, to, _ = ctx.x(c["send"], head=c["head"])
            cls, detail = judge(c, r, closed, to)
        if srv.p.poll() is None:
            after = ctx.probe()
            if after:
                cls, detail = ("hang" if "timeout" in after else "silent wrong"), "after this case: " + after
        log = srv.new_log()
        if SAN_RX.search(log):
            cls, detail = "sanitizer", SAN_RX.search(log).group(0) + ": " + log[SAN_RX.search(log).start():][:300]
        elif srv.p.poll() is not None:
            rc = srv.p.returncode
            cls, detail = ("crash" if rc < 0 else "unclear error"), "the server exited (%d): %s" % (rc, log[-300:])
        if srv.p.poll() is not None:
            try:
                srv.start()
            except RuntimeError as e:
                runner.record(c["id"], bname, cls, expected(c), detail)
                runner.record("serve-http-restart", bname, "setup error", OK, str(e))
                return
        runner.record(c["id"], bname, cls, expected(c), detail)
    # SIGTERM: the server drains, exits 0, and its log has no sanitizer report
    srv.p.send_signal(signal.SIGTERM)
    try:
        rc = srv.p.wait(timeout=timeout * 2)
    except subprocess.TimeoutExpired:
        srv.kill()
        runner.record("serve-http-sigterm", bname, "hang", OK, "no exit within %.0f s of SIGTERM" % (timeout * 2))
        return
    log = srv.text()
    if SAN_RX.search(log):
        cls, detail = "sanitizer", log[SAN_RX.search(log).start():][:300]
    elif rc != 0:
        cls, detail = ("crash" if rc < 0 else "unclear error"), "exit status %d after SIGTERM: %s" % (rc, log[-300:])
    elif "ttt serve: stopped" not in log:
        cls, detail = "unclear error", "exit 0 without 'stopped' in the log"
    else:
        cls, detail = "ok", ""
    runner.record("serve-http-sigterm", bname, cls, OK, detail)
