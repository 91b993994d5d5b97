#!/usr/bin/env python3
"""Helper for thunderbird.sh: things a shell script cannot do by itself.

  login PROFILE ORIGIN USER PASS
      Create the profile's NSS key store (key4.db, cert9.db) with an EMPTY primary
      password and write logins.json holding USER/PASS for ORIGIN (e.g.
      "imap://127.0.0.1"), encrypted with the key store's SDR key, exactly as
      Thunderbird's password manager does. Thunderbird then logs in without any
      prompt. Uses the NSS that ships inside Thunderbird (/usr/lib/thunderbird),
      so the key store format is the one Thunderbird reads.

  certoverride PROFILE HOST PORT CERT.pem
      Write cert_override.txt so that Thunderbird accepts a self-signed server
      certificate for HOST:PORT without the "add security exception" dialog.

  marionette PORT SCRIPT_FILE [TIMEOUT]
      Minimal Marionette client: open a session, switch to chrome context, run
      SCRIPT_FILE (async JavaScript: call resolve(value) when done, see
      WebDriver:ExecuteAsyncScript) in the main window and print the JSON value.

Standard library only (ctypes, json, socket).
"""
import base64
import ctypes
import hashlib
import json
import os
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


def cmd_certoverride(profile, host, port, pem_path):
    pem = open(pem_path).read()
    b64 = "".join(l for l in pem.split("-----BEGIN CERTIFICATE-----", 1)[1]
                  .split("-----END CERTIFICATE-----", 1)[0].split())
    der = base64.b64decode(b64)
    fp = hashlib.sha256(der).hexdigest().upper()
    fp = ":".join(fp[i:i + 2] for i in range(0, len(fp), 2))
    with open(os.path.join(profile, "cert_override.txt"), "w") as f:
        f.write("# PSM Certificate Override Settings file\n# This is a generated file!  Do not edit.\n")
        f.write("%s:%s:\tOID.2.16.840.1.101.3.4.2.1\t%s\t\n" % (host, port, fp))


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
    m.call("Marionette:SetContext", {"value": "chrome"})
    script = open(script_file).read()
    r = m.call("WebDriver:ExecuteAsyncScript",
               {"script": script, "args": [], "scriptTimeout": int(timeout * 1000), "newSandbox": True})
    print(json.dumps(r.get("value") if isinstance(r, dict) else r))
    try:
        m.call("WebDriver:DeleteSession", {})
    except Exception:
        pass


if __name__ == "__main__":
    cmds = {"login": cmd_login, "certoverride": cmd_certoverride, "marionette": cmd_marionette}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    cmds[sys.argv[1]](*sys.argv[2:])
