#!/usr/bin/env python3
"""Helper for thunderbird.sh: things a shell script cannot do by itself.

  login PROFILE ORIGIN USER PASS
      Create the profile's NSS key store (key4.db, cert9.db) with an EMPTY primary
      password and write logins.json holding USER/PASS for ORIGIN (e.g.
      "imap://127.0.0.1"), encrypted with the key store's SDR key, exactly as
      Thunderbird's password manager does. Thunderbird then logs in without any
      prompt. Uses the NSS that ships inside Thunderbird (/usr/lib/thunderbird),
      so the key store format is the one Thunderbird reads.

  certoverride PROFILE HOST PORT CERT.pem [HOST:PORT ...]
      Write cert_override.txt so that Thunderbird accepts a self-signed server
      certificate for HOST:PORT (and each further HOST:PORT) without the "add
      security exception" dialog.

  proxy PORTFILE TARGET HOST...
      An HTTP proxy on a free loopback port (written to PORTFILE) that plays DNS
      for Thunderbird: "CONNECT HOST:443" for one of the HOSTs is tunnelled to
      TARGET (host:port, an HTTPS server), as if HOST resolved to it; every other
      request is refused (403), plain-HTTP ones too. Each request is logged on
      stdout ("TUNNEL host:443 -> TARGET" or "REFUSED <request line>"). Runs until
      killed.

  marionette PORT SCRIPT_FILE [TIMEOUT]
      Minimal Marionette client: open a session, switch to chrome context, run
      SCRIPT_FILE (async JavaScript: call resolve(value) when done, see
      WebDriver:ExecuteAsyncScript) in the main window and print the JSON value.

  sharing RESULT.json OWNER FOLDER WORKDIR
      Judge what the Marionette script read from Thunderbird for the folder Properties
      dialog's Sharing tab (the "sharing" member of RESULT.json), with the ACL commands in
      Thunderbird's IMAP log (WORKDIR/imap.log*): print one line "PASS thunderbird
      sharing: ..." or "FAIL thunderbird sharing: ..." and exit 0 or 1.
      PASS needs: the server has ACL (no "This server does not support shared folders."),
      Thunderbird sent MYRIGHTS for FOLDER and got a "* MYRIGHTS" reply, folder type
      "Other User's Folder" with "shared by the user 'OWNER'", Thunderbird's rights for the
      folder with read, set-seen, write, insert, delete and expunge, and the permissions
      text saying so ("Full Control", or a list naming Read, Write and Delete Messages).

Standard library only (ctypes, json, socket, threading).
"""
import base64
import ctypes
import glob
import hashlib
import json
import os
import re
import socket
import sys
import time
import uuid

TB_DIR = os.environ.get("TB_LIBDIR", "/usr/lib/thunderbird")


class SECItem(ctypes.Structure):
    _fields_ = [("type", ctypes.c_uint), ("data", ctypes.c_void_p), ("len", ctypes.c_uint)]


def nss():
    # libnss3 loads softokn/freebl from its own directory.
    for dep in ("libnssutil3.so", "libplds4.so", "libplc4.so", "libnspr4.so"):
        p = os.path.join(TB_DIR, dep)
        if os.path.exists(p):
            ctypes.CDLL(p, mode=ctypes.RTLD_GLOBAL)
    path = os.path.join(TB_DIR, "libnss3.so")
    if not os.path.exists(path):
        path = "libnss3.so"
    lib = ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    lib.NSS_InitReadWrite.argtypes = [ctypes.c_char_p]
    lib.PK11_GetInternalKeySlot.restype = ctypes.c_void_p
    lib.PK11_NeedUserInit.argtypes = [ctypes.c_void_p]
    lib.PK11_InitPin.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
    lib.PK11_Authenticate.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
    lib.PK11_FreeSlot.argtypes = [ctypes.c_void_p]
    lib.PK11SDR_Encrypt.argtypes = [ctypes.POINTER(SECItem)] * 3 + [ctypes.c_void_p]
    lib.SECITEM_ZfreeItem.argtypes = [ctypes.POINTER(SECItem), ctypes.c_int]
    return lib


def cmd_login(profile, origin, user, password):
    lib = nss()
    if lib.NSS_InitReadWrite(("sql:" + profile).encode()) != 0:
        sys.exit("NSS_InitReadWrite failed for " + profile)
    slot = lib.PK11_GetInternalKeySlot()
    if lib.PK11_NeedUserInit(slot):
        if lib.PK11_InitPin(slot, None, b"") != 0:
            sys.exit("PK11_InitPin failed")
    if lib.PK11_Authenticate(slot, 1, None) != 0:
        sys.exit("PK11_Authenticate failed (primary password not empty?)")

    def enc(text):
        raw = text.encode()
        buf = ctypes.create_string_buffer(raw, len(raw))
        data = SECItem(0, ctypes.cast(buf, ctypes.c_void_p), len(raw))
        keyid = SECItem(0, None, 0)  # default key (created on first use)
        out = SECItem(0, None, 0)
        if lib.PK11SDR_Encrypt(ctypes.byref(keyid), ctypes.byref(data), ctypes.byref(out), None) != 0:
            sys.exit("PK11SDR_Encrypt failed")
        b = ctypes.string_at(out.data, out.len)
        lib.SECITEM_ZfreeItem(ctypes.byref(out), 0)
        return base64.b64encode(b).decode()

    now = int(time.time() * 1000)
    login = {
        "id": 1,
        "hostname": origin,
        "httpRealm": origin,
        "formSubmitURL": None,
        "usernameField": "",
        "passwordField": "",
        "encryptedUsername": enc(user),
        "encryptedPassword": enc(password),
        "guid": "{%s}" % uuid.uuid4(),
        "encType": 1,
        "timeCreated": now,
        "timeLastUsed": now,
        "timePasswordChanged": now,
        "timesUsed": 1,
    }
    lib.PK11_FreeSlot(slot)
    lib.NSS_Shutdown()
    with open(os.path.join(profile, "logins.json"), "w") as f:
        json.dump({"nextId": 2, "logins": [login], "potentiallyVulnerablePasswords": [],
                   "dismissedBreachAlertsByLoginGUID": {}, "version": 3}, f)


def cmd_certoverride(profile, host, port, pem_path, *more):
    pem = open(pem_path).read()
    b64 = "".join(l for l in pem.split("-----BEGIN CERTIFICATE-----", 1)[1]
                  .split("-----END CERTIFICATE-----", 1)[0].split())
    der = base64.b64decode(b64)
    fp = hashlib.sha256(der).hexdigest().upper()
    fp = ":".join(fp[i:i + 2] for i in range(0, len(fp), 2))
    with open(os.path.join(profile, "cert_override.txt"), "w") as f:
        f.write("# PSM Certificate Override Settings file\n# This is a generated file!  Do not edit.\n")
        for hp in ["%s:%s" % (host, port)] + list(more):
            f.write("%s:\tOID.2.16.840.1.101.3.4.2.1\t%s\t\n" % (hp, fp))


def cmd_proxy(portfile, target, *hosts):
    import threading
    allowed = {h.lower() + ":443" for h in hosts}
    thost, tport = target.rsplit(":", 1)
    lock = threading.Lock()

    def log(line):
        with lock:
            print(line, flush=True)

    def pipe(src, dst):
        try:
            while True:
                b = src.recv(65536)
                if not b:
                    break
                dst.sendall(b)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def handle(c):
        try:
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 16384:
                b = c.recv(4096)
                if not b:
                    return
                head += b
            line = head.split(b"\r\n", 1)[0].decode("latin-1")
            parts = line.split()
            if len(parts) == 3 and parts[0] == "CONNECT" and parts[1].lower() in allowed:
                u = socket.create_connection((thost, int(tport)), timeout=10)
                u.settimeout(None)
                c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                log("TUNNEL %s -> %s" % (parts[1].lower(), target))
                rest = head.split(b"\r\n\r\n", 1)[1]
                if rest:
                    u.sendall(rest)
                t = threading.Thread(target=pipe, args=(u, c), daemon=True)
                t.start()
                pipe(c, u)
                t.join()
                u.close()
            else:
                log("REFUSED " + line)
                c.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        except OSError as e:
            log("ERROR %s" % e)
        finally:
            c.close()

    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(64)
    with open(portfile + ".tmp", "w") as f:
        f.write("%d\n" % ls.getsockname()[1])
    os.rename(portfile + ".tmp", portfile)
    while True:
        c, _ = ls.accept()
        threading.Thread(target=handle, args=(c,), daemon=True).start()


class Marionette:
    def __init__(self, port, timeout):
        deadline = time.time() + timeout
        while True:
            try:
                self.s = socket.create_connection(("127.0.0.1", int(port)), timeout=5)
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.5)
        self.s.settimeout(timeout)
        self.buf = b""
        self.msgid = 0
        self.read()  # greeting

    def read(self):
        while b":" not in self.buf:
            self.more()
        n, _ = self.buf.split(b":", 1)
        need = len(n) + 1 + int(n)
        while len(self.buf) < need:
            self.more()
        body = self.buf[len(n) + 1:need]
        self.buf = self.buf[need:]
        return json.loads(body)

    def more(self):
        d = self.s.recv(65536)
        if not d:
            raise EOFError("marionette closed the connection")
        self.buf += d

    def call(self, name, params):
        self.msgid += 1
        body = json.dumps([0, self.msgid, name, params]).encode()
        self.s.sendall(str(len(body)).encode() + b":" + body)
        while True:
            msg = self.read()
            if msg[0] == 1 and msg[1] == self.msgid:
                if msg[2]:
                    raise RuntimeError("%s: %s" % (name, msg[2]))
                return msg[3]


def cmd_marionette(port, script_file, timeout="60"):
    timeout = float(timeout)
    m = Marionette(port, timeout)
    m.call("WebDriver:NewSession", {"capabilities": {}})
    # The session's script timeout (Marionette's default is 30 s) bounds the script too.
    m.call("WebDriver:SetTimeouts", {"script": int(timeout * 1000)})
    m.call("Marionette:SetContext", {"value": "chrome"})
    script = open(script_file).read()
    r = m.call("WebDriver:ExecuteAsyncScript",
               {"script": script, "args": [], "scriptTimeout": int(timeout * 1000), "newSandbox": True})
    print(json.dumps(r.get("value") if isinstance(r, dict) else r))
    try:
        m.call("WebDriver:DeleteSession", {})
    except Exception:
        pass


# Thunderbird's nsMsgIMAPFolderACL bits (mailnews/imap/src/nsImapMailFolder.h).
ACL_BITS = [(0x1, "read"), (0x2, "set-seen"), (0x4, "write"), (0x8, "insert"), (0x10, "post"),
            (0x20, "create-subfolder"), (0x40, "delete"), (0x80, "administer"),
            (0x100, "retrieved"), (0x200, "expunge"), (0x400, "delete-folder")]
ACL_NEEDED = 0x1 | 0x2 | 0x4 | 0x8 | 0x40 | 0x200


def acl_exchange(workdir):
    """The ACL commands Thunderbird sent (MOZ_LOG=IMAP:5) and the server's replies to them."""
    tags, lines = set(), []
    for f in sorted(glob.glob(os.path.join(workdir, "imap.log*"))):
        for l in open(f, errors="replace"):
            m = re.search(r":SendData: (\S+) ((?:myrights|getacl|listrights|setacl|deleteacl) .*)", l, re.I)
            if m:
                tags.add(m.group(1))
                lines.append("C: %s %s" % (m.group(1), m.group(2).strip()))
                continue
            m = re.search(r":CreateNewLineFromSocket: (.*)", l)
            if m:
                resp = m.group(1).strip()
                if re.match(r"\* (MYRIGHTS|ACL|LISTRIGHTS) ", resp, re.I) or resp.split(" ", 1)[0] in tags:
                    lines.append("S: " + resp)
    return lines


def cmd_sharing(result_file, owner, folder, workdir):
    r = json.load(open(result_file))
    s = r.get("sharing") if isinstance(r, dict) else None
    ex = acl_exchange(workdir)
    sent = " | ".join(ex[:6]) if ex else "none"

    def out(verdict, text):
        print("%s thunderbird sharing: %s" % (verdict, text))
        sys.exit(0 if verdict == "PASS" else 1)

    if not s:
        out("FAIL", "no sharing data from Thunderbird: %s" % json.dumps(r)[:300])
    flags = s.get("aclFlags")
    names = [n for b, n in ACL_BITS if isinstance(flags, int) and flags & b]
    fl = "ACL flags %s (%s)" % (hex(flags) if isinstance(flags, int) else flags, " ".join(names) or "none")
    shown = "Folder Type: %r, %r, You have the following permissions: %r" % (
        s.get("folderType"), s.get("folderTypeDescription"), s.get("permissions"))
    if s.get("serverDoesntSupportACL"):
        out("FAIL", "the Sharing tab says %r: no ACL in the server's CAPABILITY (Thunderbird's "
            "capability flags %s), so Thunderbird never asks MYRIGHTS (%s; Other-Users folder flag %s)"
            % (s.get("folderTypeDescription"), hex(s["capability"]) if isinstance(s.get("capability"), int) else "?",
               fl, s.get("imapOtherUserFlag")))
    asked = [l for l in ex if l.startswith("C: ") and re.search(r"myrights \"?%s\"?$" % re.escape(folder), l, re.I)]
    if not asked:
        out("FAIL", "Thunderbird sent no MYRIGHTS for %r (ACL commands: %s; %s)" % (folder, sent, fl))
    if not any(re.match(r"S: \* MYRIGHTS ", l, re.I) for l in ex):
        out("FAIL", "no * MYRIGHTS reply (ACL commands: %s; %s)" % (sent, fl))
    desc = s.get("folderTypeDescription") or ""
    if "Other User" not in (s.get("folderType") or "") or ("'%s'" % owner) not in desc:
        out("FAIL", "not shown as %s's folder: %s; %s" % (owner, shown, fl))
    if not isinstance(flags, int) or flags & ACL_NEEDED != ACL_NEEDED:
        missing = [n for b, n in ACL_BITS if b & ACL_NEEDED and not (isinstance(flags, int) and flags & b)]
        out("FAIL", "Thunderbird's rights for the folder lack %s (did the server answer MYRIGHTS?): %s; %s"
            % (", ".join(missing), fl, shown))
    perms = s.get("permissions") or ""
    if perms != "Full Control" and not all(w in perms for w in ("Read", "Write", "Delete Messages")):
        out("FAIL", "permissions text %r names neither Full Control nor Read, Write, Delete Messages; %s" % (perms, fl))
    others = s.get("otherUsers")
    out("PASS", "%s; %s; others with access: %s; ACL commands: %s" % (
        shown, fl, ", ".join(others) if isinstance(others, list) and others else "none listed", sent))


if __name__ == "__main__":
    cmds = {"login": cmd_login, "certoverride": cmd_certoverride, "marionette": cmd_marionette,
            "sharing": cmd_sharing, "proxy": cmd_proxy}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    cmds[sys.argv[1]](*sys.argv[2:])
