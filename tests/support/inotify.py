"""Which files were opened: Linux inotify through ctypes, no dependency."""

import ctypes
import os
import struct

IN_ACCESS = 0x001
IN_OPEN = 0x020
IN_NONBLOCK = os.O_NONBLOCK
EVENT_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len

_libc = ctypes.CDLL(None, use_errno=True)


class OpenWatch:
    """Records every open or read of the given files while active."""

    def __init__(self, paths):
        self.fd = _libc.inotify_init1(IN_NONBLOCK)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        self.paths = {}
        for path in paths:
            wd = _libc.inotify_add_watch(self.fd, os.fsencode(path), IN_OPEN | IN_ACCESS)
            if wd < 0:
                raise OSError(ctypes.get_errno(), f"inotify_add_watch {path}")
            self.paths[wd] = str(path)

    def touched(self):
        """The watched files opened or read since the last call."""
        touched = set()
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return touched
            offset = 0
            while offset < len(data):
                wd, _mask, _cookie, length = EVENT_HEADER.unpack_from(data, offset)
                touched.add(self.paths[wd])
                offset += EVENT_HEADER.size + length

    def close(self):
        os.close(self.fd)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
