#!/usr/bin/env python3
"""How many append+fdatasync rounds per second this disk does, from one writer.

This is the ceiling for durable writes without group commit: one sync per write.
Usage: fsync_rate.py DIR [SECONDS]
"""
import os
import sys
import time

directory = sys.argv[1]
seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 3.0
path = os.path.join(directory, "fsync-probe.log")
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
block = b"x" * 200
count = 0
deadline = time.monotonic() + seconds
try:
    while time.monotonic() < deadline:
        os.write(fd, block)
        os.fdatasync(fd)
        count += 1
finally:
    os.close(fd)
    os.unlink(path)
print(f"{count / seconds:.0f}")
