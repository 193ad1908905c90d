# SPDX-License-Identifier: GPL-2.0
"""A small QMP client for the suite's host-side drivers of guests
(qmp-hotplug, qmp-lifecycle), and the wait for a guest's "ready" line."""
import json
import socket
import time

TIMEOUT = 180  # seconds for the guest, or the guest's PCI core, to act


class Qmp:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                self.sock.connect(path)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.buf = b""
        self.events = []
        self.read()  # the greeting
        self.cmd("qmp_capabilities")

    def read(self):
        while b"\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("QEMU closed the QMP socket")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name, **args):
        self.sock.sendall(json.dumps({"execute": name, "arguments": args}).encode() + b"\n")
        while True:
            msg = self.read()
            if "event" in msg:
                self.events.append(msg)
            elif "error" in msg:
                raise RuntimeError(f"{name}: {msg['error'].get('desc')}")
            elif "return" in msg:
                return msg["return"]

    def wait_event(self, name, device):
        deadline = time.monotonic() + TIMEOUT
        while True:
            for i, ev in enumerate(self.events):
                if ev["event"] == name and ev.get("data", {}).get("device") == device:
                    del self.events[i]
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {name} for {device}")
            self.events.append(self.read())


def wait_line(log, *wants):
    """Wait until the guest's KTAP log LOG has one of the lines WANTS;
    return it."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        try:
            with open(log, errors="replace") as f:
                for line in f:
                    if line.strip() in wants:
                        return line.strip()
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"the guest never said \"{wants[0]}\"")
