#!/usr/bin/env python3
"""Serve a small in-memory 9P2000 tree with aio9p's server, for ninefold's client to use.

Usage: aio9p_server.py (--unix PATH | --tcp) [--exit-on-stdin-eof]

Prints one line on stdout, the ninefold-style address it listens on (unix!PATH or
tcp!127.0.0.1!PORT), then serves until killed (or, with --exit-on-stdin-eof, until its
standard input closes, so that it cannot outlive the test that started it).

The tree, shared by every connection (each connection has its own fids):
    /hello.txt       "hello from aio9p\\n"
    /big.bin         50000 bytes: bytes(i * 7 % 251 for i in range(50000))
    /empty           zero bytes
    /sub/            directory
    /sub/inner.txt   "inner file\\n"

It runs aio9p's own example server, aio9p.example.simple.Simple9P2000 (walk, open, read,
write, stat, clunk, remove are aio9p's code), with these changes, each marked AIO9P BUG
or AIO9P LIMIT below:
  - the tree is shared between connections (the example makes a fresh empty tree for every
    connection and again on every Tattach, so nothing would survive a one-shot client);
  - Rerror is plain 9P2000 (the example appends a 9P2000.u errno to it), and "file does
    not exist" is spelled as in Plan 9;
  - Tcreate makes a directory's qid of type QTDIR (the example derives the qid type from
    the open mode, so every created qid is QTFILE), masks perm as the 9P2000 spec says, and
    refuses a name that exists with a proper Rerror;
  - Topen honours OTRUNC and refuses to open a directory for writing (the example ignores
    the open mode entirely).
"""

import argparse
import asyncio
import os
import sys

try:
    import aio9p.constant as c
    from aio9p.dialect.Py9P2000 import p9_error
    from aio9p.example.simple import BASEQID, Simple9P2000
    from aio9p.helper import mkqid
    from aio9p.protocol import Py9PException, Py9PServer
    from aio9p.stat import Py9P2000Stat
except ImportError as e:  # pragma: no cover - reported by the caller
    print(f"aio9p not importable: {e} (pip install aio9p==0.3.3)", file=sys.stderr)
    sys.exit(3)

OTRUNC = 0x10
NOT_FOUND = "file does not exist"


def qid(qtype, path):
    return bytes([qtype]) + (0).to_bytes(4, "little") + path.to_bytes(8, "little")


def mkstat(q, mode, name, length=0):
    return Py9P2000Stat(
        p9type=0, p9dev=0, p9qid=q, p9mode=mode, p9atime=0, p9mtime=1_700_000_000,
        p9length=length, p9name=name, p9uid=b"aio9p", p9gid=b"aio9p", p9muid=b"aio9p",
    )


class Tree:
    """The state Simple9P2000 keeps per instance, made once and shared."""

    def __init__(self):
        self.stat = {}
        self.content = {}
        self.direntry = {}
        self.stat[BASEQID] = mkstat(BASEQID, c.DMDIR | 0o777, b"/")
        self.direntry[BASEQID] = {}
        self.next_path = 1

    def add(self, parent, name, data=None):
        q = qid(c.QTDIR if data is None else c.QTFILE, self.next_path)
        self.next_path += 1
        if data is None:
            self.stat[q] = mkstat(q, c.DMDIR | 0o755, name)
            self.direntry[q] = {}
        else:
            self.stat[q] = mkstat(q, 0o644, name, len(data))
            self.content[q] = data
        self.direntry[parent][name] = q
        return q


def seed():
    tree = Tree()
    tree.add(BASEQID, b"hello.txt", b"hello from aio9p\n")
    tree.add(BASEQID, b"big.bin", bytes(i * 7 % 251 for i in range(50000)))
    tree.add(BASEQID, b"empty", b"")
    sub = tree.add(BASEQID, b"sub")
    tree.add(sub, b"inner.txt", b"inner file\n")
    return tree


class InteropServer(Simple9P2000):
    def __init__(self, maxsize, tree, logger=None):
        super().__init__(maxsize, logger=logger)
        # AIO9P LIMIT: share the tree between connections; fids stay per connection.
        self._tree = tree
        self._stat = tree.stat
        self._content = tree.content
        self._direntry = tree.direntry

    async def attach(self, fid, afid, uname, aname):
        # AIO9P BUG: the example's attach empties the root directory every time.
        if afid != b"\xff\xff\xff\xff":
            raise Py9PException("authentication not required")
        if fid in self._fid:
            raise Py9PException("fid in use")
        self._fid[fid] = BASEQID
        return BASEQID

    def errhandler(self, exception):
        # AIO9P BUG: the example answers 9P2000 clients with a 9P2000.u Rerror (an errno
        # after the string), which makes the message 4 bytes longer than 9P2000 allows.
        msg = exception.args[0] if isinstance(exception, Py9PException) and exception.args else str(exception)
        if isinstance(msg, int):
            msg = NOT_FOUND if msg == 2 else os.strerror(msg)
        if isinstance(exception, NotImplementedError):
            msg = "operation not supported"
        return p9_error(str(msg).encode("utf-8"))

    async def open(self, fid, mode):
        # AIO9P BUG: the example ignores the open mode.
        q = self._fid.get(fid)
        if q is None:
            raise Py9PException("unknown fid")
        if q in self._direntry and (mode & 3 in (c.OWRITE, c.ORDWR) or mode & OTRUNC):
            raise Py9PException("file is a directory")
        if mode & OTRUNC:
            self._content[q] = b""
            self._stat[q].p9length = 0
        return q, 0

    async def create(self, fid, name, perm, mode):
        # AIO9P BUG: the example's qids for new directories are QTFILE, and it masks the
        # permissions with the parent's the other way round (0777 for files, 0666 for dirs).
        parent = self._fid.get(fid)
        dircontent = self._direntry.get(parent)
        if dircontent is None:
            raise Py9PException("not a directory")
        if name in dircontent or name in (b".", b"..") or b"/" in name:
            raise Py9PException("file already exists" if name in dircontent else "bad file name")
        pmode = self._stat[parent].p9mode
        isdir = bool(perm & c.DMDIR)
        if isdir:
            fmode = c.DMDIR | (perm & (~0o777 | (pmode & 0o777)) & 0o777)
        else:
            fmode = perm & (~0o666 | (pmode & 0o666)) & 0o777
        path = self._tree.next_path
        self._tree.next_path += 1
        q = mkqid(fmode, path)
        dircontent[name] = q
        if isdir:
            self._direntry[q] = {}
        else:
            self._content[q] = b""
        self._stat[q] = mkstat(q, fmode, name)
        self._fid[fid] = q
        return q, 0


async def serve(args):
    tree = seed()

    def factory():
        return Py9PServer(InteropServer(65535, tree))

    loop = asyncio.get_running_loop()
    if args.unix:
        try:
            os.remove(args.unix)
        except FileNotFoundError:
            pass
        server = await loop.create_unix_server(factory, path=args.unix)
        addr = f"unix!{args.unix}"
    else:
        server = await loop.create_server(factory, host="127.0.0.1", port=0)
        port = server.sockets[0].getsockname()[1]
        addr = f"tcp!127.0.0.1!{port}"
    print(addr, flush=True)
    async with server:
        await server.start_serving()
        if args.exit_on_stdin_eof:
            await loop.run_in_executor(None, sys.stdin.buffer.read)
        else:
            await asyncio.Event().wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--unix", metavar="PATH")
    where.add_argument("--tcp", action="store_true", help="listen on 127.0.0.1, a free port")
    ap.add_argument("--exit-on-stdin-eof", action="store_true")
    try:
        asyncio.run(serve(ap.parse_args()))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
