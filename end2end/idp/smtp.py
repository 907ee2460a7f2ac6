"""An SMTP server for Roster's tests (PyPI `aiosmtpd`), on loopback.

    python end2end/idp/smtp.py DIR [PORT]    prints `listening <port>` once it serves

Every message it receives is written to DIR as one JSON file ({"from", "to", "subject",
"text", "html"}, bodies decoded), named in the order they arrived, so a test can read the
mail and follow its links.
"""
import email
import email.policy
import json
import os
import socket
import sys
import time

from aiosmtpd.controller import Controller


class Save:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        text = message.get_body(preferencelist=("plain",))
        html = message.get_body(preferencelist=("html",))
        self.count += 1
        path = os.path.join(self.directory, f"{self.count:05d}.json")
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(
                {
                    "from": envelope.mail_from,
                    "to": envelope.rcpt_tos,
                    "subject": str(message["subject"]),
                    "text": text.get_content() if text else "",
                    "html": html.get_content() if html else "",
                },
                f,
            )
        os.rename(path + ".tmp", path)
        return "250 OK"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    directory = sys.argv[1]
    os.makedirs(directory, exist_ok=True)
    port = int(sys.argv[2]) if len(sys.argv) > 2 else free_port()
    controller = Controller(Save(directory), hostname="127.0.0.1", port=port)
    controller.start()
    print(f"listening {port}", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
