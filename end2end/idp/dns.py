"""A DNS server for Roster's tests (PyPI `dnslib`), on loopback UDP.

    python end2end/idp/dns.py RECORDS.json     prints `listening <port>` once it serves

It answers TXT questions from RECORDS.json ({"name.": ["value", ...]}), read at every question,
so a test can publish a record while the server runs (as an admin does at their DNS host), and
NXDOMAIN for anything else.
"""
import json
import sys
import time

from dnslib import QTYPE, RCODE, RR, TXT
from dnslib.server import BaseResolver, DNSServer


class Records(BaseResolver):
    def __init__(self, path):
        self.path = path

    def resolve(self, request, handler):
        reply = request.reply()
        name = str(request.q.qname).lower()
        try:
            with open(self.path, encoding="utf-8") as f:
                records = {k.lower(): v for k, v in json.load(f).items()}
        except (OSError, ValueError):
            records = {}
        values = records.get(name)
        if values is None:
            reply.header.rcode = RCODE.NXDOMAIN
        elif request.q.qtype == QTYPE.TXT:
            for value in values:
                reply.add_answer(RR(name, QTYPE.TXT, rdata=TXT(value), ttl=1))
        return reply


class Quiet:
    def __getattr__(self, _name):
        return lambda *args, **kwargs: None


def main():
    server = DNSServer(Records(sys.argv[1]), port=0, address="127.0.0.1", logger=Quiet())
    server.start_thread()
    print(f"listening {server.server.server_address[1]}", flush=True)
    while server.isAlive():
        time.sleep(0.5)


if __name__ == "__main__":
    main()
