"""A private SMTP server for tests: Debian's aiosmtpd, writing each message
it accepts to a JSON file in --dir. Optional STARTTLS or implicit TLS, and
AUTH (PLAIN, LOGIN) against the password in --passfile, read at every
attempt so a test can change it while the server runs. Prints
"listening HOST:PORT" once it accepts connections."""

import argparse
import asyncio
import itertools
import json
import os
import signal
import ssl

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

p = argparse.ArgumentParser()
p.add_argument("--dir", required=True)
p.add_argument("--port", type=int, default=0)
p.add_argument("--mode", choices=["none", "starttls", "tls"], default="none")
p.add_argument("--cert")
p.add_argument("--key")
p.add_argument("--user", default="")
p.add_argument("--passfile", default="")
p.add_argument("--only-login", action="store_true")
a = p.parse_args()

seq = itertools.count(1)


class Handler:
    async def handle_DATA(self, server, session, envelope):
        rec = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "tls": a.mode == "tls" or session.ssl is not None,
            "authenticated": bool(session.authenticated),
            "login": session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else "",
            "data": envelope.original_content.decode("utf-8", "replace"),
        }
        name = "%06d.json" % next(seq)
        tmp = os.path.join(a.dir, "." + name)
        with open(tmp, "w") as f:
            json.dump(rec, f)
        os.rename(tmp, os.path.join(a.dir, name))
        return "250 Message accepted for delivery"


def authenticator(server, session, envelope, mechanism, data):
    if not isinstance(data, LoginPassword):
        return AuthResult(success=False, handled=False)
    with open(a.passfile, "rb") as f:
        want = f.read()
    ok = data.login == a.user.encode() and data.password == want
    return AuthResult(success=ok, handled=False, auth_data=data)


def tls_context():
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(a.cert, a.key)
    return ctx


def factory():
    kw = {}
    if a.mode == "starttls":
        kw.update(tls_context=tls_context(), require_starttls=True)
    if a.user:
        # aiosmtpd counts only STARTTLS as TLS: on an implicit TLS (SMTPS)
        # connection it would never offer AUTH.
        kw.update(authenticator=authenticator, auth_required=True, auth_require_tls=a.mode != "tls")
        if a.only_login:
            kw.update(auth_exclude_mechanism=["PLAIN"])
    return SMTP(Handler(), hostname="smtptest.invalid", **kw)


loop = asyncio.new_event_loop()
asyncio.set_event_loop(loop)
srv = loop.run_until_complete(
    loop.create_server(factory, "127.0.0.1", a.port, ssl=tls_context() if a.mode == "tls" else None)
)
host, port = srv.sockets[0].getsockname()[:2]
print("listening %s:%d" % (host, port), flush=True)
loop.add_signal_handler(signal.SIGTERM, loop.stop)
loop.run_forever()
