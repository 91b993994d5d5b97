#!/usr/bin/env python3
"""Python imaplib against mailgate: bob (Full Access on alice) lists, reads,
flags and moves a message in alice's delegated INBOX; dave (no rights) sees
nothing and cannot select it. Exits non-zero with a message on failure.

usage: imaplib_check.py HOST PORT BOB_PASSWORD DAVE_PASSWORD
"""
import imaplib
import sys

host, port, bob_pw, dave_pw = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
DELEG = '"Other Users/alice@example.test/INBOX"'
ARCHIVE = '"Other Users/alice@example.test/Archive"'


def check(cond, what):
    if not cond:
        sys.exit("FAIL: " + what)
    print("ok:", what)


bob = imaplib.IMAP4(host, port, timeout=20)
typ, _ = bob.login("bob@example.test", bob_pw)
check(typ == "OK", "bob logs in")
typ, ns = bob.namespace()
check(typ == "OK" and b'"Other Users/"' in ns[0], "NAMESPACE announces Other Users/: %r" % ns)
typ, boxes = bob.list()
names = b"\n".join(boxes)
check(b"Other Users/alice@example.test/INBOX" in names, "LIST shows alice's delegated INBOX")
typ, data = bob.select(DELEG)
check(typ == "OK" and int(data[0]) >= 2, "SELECT delegated INBOX: %r messages" % data)
typ, data = bob.uid("SEARCH", None, 'SUBJECT "Lunch on Friday"')
uids = data[0].split()
check(typ == "OK" and len(uids) == 1, "SEARCH finds the lunch message: %r" % data)
uid = uids[0]
typ, data = bob.uid("FETCH", uid, "(BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)])")
check(typ == "OK" and b"Lunch on Friday" in data[0][1], "FETCH reads alice's message")
typ, data = bob.uid("STORE", uid, "+FLAGS", r"(\Flagged)")
check(typ == "OK" and b"\\Flagged" in data[0], "STORE +FLAGS \\Flagged: %r" % data)
typ, data = bob.uid("MOVE", uid, ARCHIVE)
check(typ == "OK", "UID MOVE to alice's Archive: %r" % data)
typ, data = bob.select(ARCHIVE, readonly=True)
check(typ == "OK" and int(data[0]) >= 1, "alice's Archive now holds it")
typ, data = bob.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
check(typ == "OK" and any(isinstance(p, tuple) and b"Lunch on Friday" in p[1] and b"\\Flagged" in p[0] for p in data),
      "the moved message kept its \\Flagged flag")
bob.logout()

dave = imaplib.IMAP4(host, port, timeout=20)
dave.login("dave@example.test", dave_pw)
typ, boxes = dave.list()
check(all(b"Other Users" not in b for b in boxes if b), "dave's LIST shows no Other Users")
typ, boxes = dave.list('"Other Users/"', "*")
check(boxes == [None] or not any(boxes), "dave's LIST \"Other Users/\" * is empty: %r" % boxes)
typ, data = dave.select(DELEG)
check(typ == "NO", "dave cannot SELECT alice's INBOX: %r" % data)
try:
    typ, data = dave.status(DELEG, "(MESSAGES)")
except imaplib.IMAP4.error as e:
    typ, data = "NO", [str(e)]
check(typ == "NO", "dave cannot STATUS alice's INBOX")
dave.logout()

try:
    x = imaplib.IMAP4(host, port, timeout=20)
    # imaplib would send the backslash in an atom (a syntax error): quote it.
    x.login('"dave@example.test\\\\alice@example.test"', dave_pw)
    sys.exit("FAIL: dave's delegate login to alice succeeded")
except imaplib.IMAP4.error as e:
    check("AUTHENTICATIONFAILED" in str(e) or "failed" in str(e).lower(), "dave's delegate login is refused: %s" % e)
