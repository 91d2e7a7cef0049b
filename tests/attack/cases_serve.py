"""cases_serve.py: the attack cases of `ttt serve`'s command line (src/cli/cmd_serve.c), added to
the table of cases.py: flags out of range or malformed, a state directory that is missing or a
file, an unknown flag, a model without a tokenizer or a missing model. Each must be refused with a
message naming what was wrong before the server listens (a case that started serving would hang
and fail). The hostile HTTP requests (bad JSON, wrong types, huge max_tokens, unknown sessions,
wrong keys, oversized and slow bodies, broken framing, ...) need a live server: they are the
serve-http-* cases of http_serve.py, sent over raw sockets to a server per binary, each with its
status code while the server keeps serving (tests/test_serve.c's test_serve_errors_keep_serving
checks a subset through curl)."""
from cases import case

S = "serve --model {m} --port 0 "
case("serve-port-range", S.replace("--port 0 ", "--port 70000"), r"--port|65535", lambda c: c.model(), quick=True)
case("serve-port-text", S.replace("--port 0 ", "--port http"), r"port", lambda c: c.model())
case("serve-parallel-0", S + "--parallel 0", r"parallel", lambda c: c.model())
case("serve-timeout-negative", S + "--timeout -1", r"--timeout", lambda c: c.model(), quick=True)
case("serve-body-timeout-nan", S + "--body-timeout nan", r"body-timeout", lambda c: c.model())
case("serve-session-idle-negative", S + "--session-idle -5", r"session-idle", lambda c: c.model())
case("serve-max-body-huge", S + "--max-body 99999999999999999999", r"max-body", lambda c: c.model())
case("serve-host-bogus", S + "--host 'not an address'", r"--host.*not an IPv4 or IPv6 address", lambda c: c.model(),
     quick=True)
case("serve-state-dir-missing", S + "--state-dir {m}/nowhere", r"state-dir.*not a directory", lambda c: c.model(),
     quick=True)
case("serve-state-dir-file", S + "--state-dir {m}/config.json", r"state-dir.*not a directory", lambda c: c.model())
case("serve-unknown-flag", S + "--bogus 1", r"bogus", lambda c: c.model())
case("serve-no-tokenizer", S, r"tokenizer", lambda c: c.model(), quick=True)
case("serve-no-model", "serve --model {m}/nothing --port 0", r"nothing|config.json", lambda c: c.model())
