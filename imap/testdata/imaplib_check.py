"""Drive mailgate's IMAP server with Python's imaplib, as a delegate.

Usage: imaplib_check.py HOST PORT DELEGATE OWNER NOBODY PASSWORD

Prints one "ok <step>" line per step and exits non-zero at the first
failure, so the Go test (imap/clients_test.go) can tell which step broke.
"""
import imaplib
import sys

host, port, delegate, owner, nobody, password = sys.argv[1:7]
port = int(port)
inbox = '"Other Users/%s/INBOX"' % owner


def check(step, cond, detail=""):
    if not cond:
        print("FAIL %s %s" % (step, detail))
        sys.exit(1)
    print("ok %s" % step)


m = imaplib.IMAP4(host, port)
typ, _ = m.login(delegate, password)
check("login", typ == "OK")
typ, data = m.namespace()
check("namespace", typ == "OK" and b'"Other Users/"' in data[0], data)
typ, data = m.list('""', '"*"')
names = b"\n".join(data)
check("list", typ == "OK" and ("Other Users/%s/INBOX" % owner).encode() in names, names)
check("list-hides", ("Other Users/%s" % nobody).encode() not in names, names)
typ, data = m.select(inbox)
check("select", typ == "OK" and int(data[0]) >= 1, data)
typ, data = m.fetch("1", "(UID FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
check("fetch", typ == "OK" and b"Subject:" in data[0][1], data)
typ, data = m.store("1", "+FLAGS", "(\\Flagged)")
check("store", typ == "OK" and b"\\Flagged" in data[0], data)
typ, data = m.search(None, "FLAGGED")
check("search", typ == "OK" and data[0].split() == [b"1"], data)
msg = b"From: py@example.org\r\nSubject: from imaplib\r\n\r\nfiled by a delegate\r\n"
typ, data = m.append('"Other Users/%s/Archive"' % owner, "(\\Seen)", None, msg)
check("append", typ == "OK" and b"APPENDUID" in data[0], data)
typ, data = m.select('"Other Users/%s/INBOX"' % nobody)
check("select-forbidden", typ == "NO" and b"[NONEXISTENT]" in data[0], data)
m.logout()

# Exchange-style delegate login: INBOX is the owner's. imaplib sends the
# user name as a bare atom, where "\\" is not allowed (RFC 3501 ATOM-CHAR), so
# it must be quoted by the caller.
m = imaplib.IMAP4(host, port)
typ, _ = m.login(m._quote("%s\\%s" % (delegate, owner)), password)
check("delegate-login", typ == "OK")
typ, data = m.select("INBOX")
check("delegate-inbox", typ == "OK" and int(data[0]) >= 1, data)
m.logout()

# AUTHENTICATE PLAIN with authzid = owner.
m = imaplib.IMAP4(host, port)
typ, _ = m.authenticate("PLAIN", lambda _: ("%s\0%s\0%s" % (owner, delegate, password)).encode())
check("authenticate-plain-authzid", typ == "OK")
m.logout()

# Refused exactly like a bad password.
for login, pw in (("%s\\%s" % (nobody, owner), password), (delegate, "wrong")):
    m = imaplib.IMAP4(host, port)
    try:
        m.login(m._quote(login), pw)
        check("refused " + login, False, "login succeeded")
    except imaplib.IMAP4.error as e:
        check("refused " + login, "AUTHENTICATIONFAILED" in str(e), str(e))
    m.logout()
print("done")
