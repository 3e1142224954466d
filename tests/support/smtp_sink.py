"""A real SMTP server on loopback for copyhound's alert tests (aiosmtpd).

Each accepted message is written to DIR as NNNN.eml (the DATA bytes exactly as
received) plus NNNN.rcpt (the envelope recipients, one per line). Recipients whose
address contains --reject get a permanent 550 reply, so the tests can see a 5xx; the
first --tempfail messages get a transient 451 reply after DATA, so they can see a 4xx.
Runs until killed.

usage: python3 smtp_sink.py --port PORT --dir DIR [--reject SUBSTRING] [--tempfail N]
"""

import argparse
import asyncio
import os

from aiosmtpd.controller import Controller


class SaveHandler:
    def __init__(self, folder, reject, tempfail):
        self.folder = folder
        self.reject = reject
        self.tempfail = tempfail
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.reject and self.reject in address:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.tempfail > 0:
            self.tempfail -= 1
            return "451 4.3.0 temporary failure, try again later"
        self.count += 1
        stem = os.path.join(self.folder, "%04d" % self.count)
        # Write under a temporary name and rename, so a reader never sees half a file.
        with open(stem + ".rcpt.tmp", "w") as f:
            f.write("\n".join(envelope.rcpt_tos))
        os.rename(stem + ".rcpt.tmp", stem + ".rcpt")
        with open(stem + ".eml.tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.rename(stem + ".eml.tmp", stem + ".eml")
        return "250 Message accepted for delivery"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--reject", default="")
    parser.add_argument("--tempfail", type=int, default=0)
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    controller = Controller(
        SaveHandler(args.dir, args.reject, args.tempfail),
        hostname="127.0.0.1",
        port=args.port,
        decode_data=False,
    )
    controller.start()
    print("ready", flush=True)
    try:
        asyncio.new_event_loop().run_forever()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
