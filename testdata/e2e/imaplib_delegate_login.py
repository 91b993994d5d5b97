#!/usr/bin/env python3
"""Python imaplib's plain login() with the Exchange-style delegate username
"bob@example.test\\alice@example.test" and bob's password: INBOX must then be
alice's. imaplib sends the username as it is, an atom with a backslash in it
(LOGIN bob@example.test\\alice@example.test "password"); scripts written for
Exchange do exactly this, so the server must accept it. Exits non-zero with a
message on failure.

usage: imaplib_delegate_login.py HOST PORT BOB_PASSWORD
"""
import imaplib
import sys

host, port, bob_pw = sys.argv[1], int(sys.argv[2]), sys.argv[3]
USER = "bob@example.test\\alice@example.test"  # one backslash, no quotes


def check(cond, what):
    if not cond:
        sys.exit("FAIL: " + what)
    print("ok:", what)


sent = []
c = imaplib.IMAP4(host, port, timeout=20)
orig_send = c.send
c.send = lambda data: (sent.append(data), orig_send(data))[1]
try:
    typ, data = c.login(USER, bob_pw)
except imaplib.IMAP4.error as e:
    line = next((d for d in sent if b" LOGIN " in d), b"?").split(b'"')[0].decode()
    sys.exit("FAIL: login(%s) refused: %s (imaplib sent: %s\"...\")" % (USER, e, line))
check(typ == "OK", "login(%s) with bob's password: %r" % (USER, data))
typ, data = c.select("INBOX", readonly=True)
check(typ == "OK" and int(data[0]) >= 1, "SELECT INBOX: %r messages" % data)
typ, data = c.uid("SEARCH", None, 'SUBJECT "Welcome to mailgate"')
uids = data[0].split() if data and data[0] else []
check(typ == "OK" and len(uids) == 1, "INBOX holds alice's welcome message: %r" % data)
typ, data = c.uid("FETCH", uids[0], "(BODY.PEEK[HEADER.FIELDS (SUBJECT TO)])")
hdr = data[0][1] if data and isinstance(data[0], tuple) else b""
check(typ == "OK" and b"Welcome to mailgate" in hdr and b"alice@example.test" in hdr,
      "it is alice's message (To: alice): %r" % hdr)
c.logout()
