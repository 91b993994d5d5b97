#!/usr/bin/env python3
"""Python imaplib/smtplib against two mailgate nodes on one database (nodes.sh).
Each subcommand prints "ok: ..." lines and exits non-zero with "FAIL: ..." on failure.

  idle IMAP_A BOB_PW MX_B SUBJECT
      bob on node A SELECTs alice's INBOX under Other Users and IDLEs; a message for
      alice delivered through node B's MX (smtplib) must show up in that IDLE as EXISTS.
  flag IMAP_B BOB_PW IMAP_A ALICE_PW SUBJECT
      alice on node A has her INBOX open; bob, logged in on node B with the delegate
      form bob\\alice, STOREs \\Flagged on the message SUBJECT; alice's session on A
      must see the flag (NOOP, then UID FETCH FLAGS).
  revoke IMAP_A BOB_PW -- COMMAND...
      bob on node A has alice's INBOX selected; COMMAND (which revokes bob's Full
      Access) runs; bob's next command in that open session must be refused with NO.
  regrant IMAP_B BOB_PW -- COMMAND...
      bob on node B cannot SELECT alice's INBOX; COMMAND (which grants Full Access
      again) runs; SELECT in the same session must then work.

Addresses are HOST:PORT. Waits are bounded (WAIT seconds, default 10) and polled.
"""
import imaplib
import os
import smtplib
import socket
import subprocess
import sys
import time
from email.message import EmailMessage

WAIT = float(os.environ.get("WAIT", "10"))
DELEG = '"Other Users/alice@example.test/INBOX"'


def check(cond, what):
    if not cond:
        sys.exit("FAIL: " + what)
    print("ok:", what)


def addr(a):
    host, port = a.rsplit(":", 1)
    return host, int(port)


def login(where, user, password):
    c = imaplib.IMAP4(*addr(where), timeout=20)
    c.login(user, password)
    return c


def poll(f, what):
    """Call f until it returns a true value (at most WAIT seconds): the value, and how long
    it took as text ("0.01s, 1st try")."""
    start, tries = time.monotonic(), 0
    while True:
        v = f()
        tries += 1
        if v:
            return v, "%.2fs, %s" % (time.monotonic() - start, "1st try" if tries == 1 else "try %d" % tries)
        if time.monotonic() - start > WAIT:
            sys.exit("FAIL: %s: not within %.0fs" % (what, WAIT))
        time.sleep(0.05)


def exists(data):
    return int(data[0]) if data and data[0] else 0


def cmd_idle(imap_a, bob_pw, mx_b, subject):
    c = login(imap_a, "bob@example.test", bob_pw)
    typ, data = c.select(DELEG)
    check(typ == "OK", "bob on node A: SELECT %s (%s messages)" % (DELEG, data[0].decode()))
    before = exists(data)
    # imaplib (3.11) has no idle(): the command is written by hand, in the same session.
    c.send(b"I1 IDLE\r\n")
    line = c.readline()
    check(line.startswith(b"+"), "bob on node A: IDLE accepted: %r" % line)

    m = EmailMessage()
    m["From"] = "sender@remote.test"
    m["To"] = "alice@example.test"
    m["Subject"] = subject
    m.set_content("delivered through node B's MX\n")
    sent = time.monotonic()
    with smtplib.SMTP(*addr(mx_b), timeout=20) as s:
        s.ehlo("remote.test")
        refused = s.send_message(m, from_addr="sender@remote.test", to_addrs=["alice@example.test"])
    check(not refused, "smtplib: node B's MX accepted mail for alice (%.2fs)" % (time.monotonic() - sent))

    seen = None
    while seen is None:
        # One timeout for what is left of the wait: a socket file cannot be read after a
        # timeout, so the first one ends the check.
        c.sock.settimeout(max(0.1, WAIT - (time.monotonic() - sent)))
        try:
            line = c.readline()
        except socket.timeout:
            break
        if not line:
            sys.exit("FAIL: node A closed bob's IDLE session")
        parts = line.split()
        if len(parts) == 3 and parts[0] == b"*" and parts[2].upper() == b"EXISTS" and int(parts[1]) > before:
            seen = int(parts[1])
    if seen is None:
        sys.exit("FAIL: bob's IDLE on node A got no EXISTS within %.0fs of the delivery through node B" % WAIT)
    check(True, "bob's IDLE on node A: * %d EXISTS %.2fs after the SMTP session with node B's MX began" % (seen, time.monotonic() - sent))
    c.sock.settimeout(20)
    c.send(b"DONE\r\n")
    while True:
        line = c.readline()
        if not line or line.startswith(b"I1 "):
            break
    check(line.startswith(b"I1 OK"), "IDLE ends with OK: %r" % line)
    typ, data = c.fetch(str(seen), "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    hdr = data[0][1] if data and isinstance(data[0], tuple) else b""
    check(typ == "OK" and subject.encode() in hdr, "message %d is the one delivered through node B: %r" % (seen, hdr.strip()))
    c.logout()


def uid_of(c, subject):
    typ, data = c.uid("SEARCH", None, 'SUBJECT "%s"' % subject)
    uids = data[0].split() if typ == "OK" and data and data[0] else []
    return uids[-1].decode() if uids else None


def cmd_flag(imap_b, bob_pw, imap_a, alice_pw, subject):
    alice = login(imap_a, "alice@example.test", alice_pw)
    typ, _ = alice.select("INBOX")
    check(typ == "OK", "alice on node A: SELECT INBOX")
    uid = uid_of(alice, subject)
    check(uid is not None, "alice on node A: %r is in her INBOX (UID %s)" % (subject, uid))
    typ, data = alice.uid("FETCH", uid, "(FLAGS)")
    check(typ == "OK" and b"\\Flagged" not in data[0], "alice on node A: UID %s is not flagged yet: %r" % (uid, data[0]))

    bob = imaplib.IMAP4(*addr(imap_b), timeout=20)
    user = "bob@example.test\\alice@example.test"  # imaplib sends it as an atom, as Exchange scripts do
    typ, data = bob.login(user, bob_pw)
    check(typ == "OK", "node B: login(%s) with bob's password" % user)
    typ, _ = bob.select("INBOX")
    check(typ == "OK", "bob\\alice on node B: SELECT INBOX (alice's)")
    buid = uid_of(bob, subject)
    check(buid == uid, "bob\\alice on node B finds the same message (UID %s)" % buid)
    typ, data = bob.uid("STORE", uid, "+FLAGS", "(\\Flagged)")
    check(typ == "OK" and b"\\Flagged" in data[0], "bob\\alice on node B: UID STORE %s +FLAGS (\\Flagged): %r" % (uid, data[0]))
    bob.logout()

    def flagged():
        alice.noop()
        typ, data = alice.uid("FETCH", uid, "(FLAGS)")
        # (with any FETCH the NOOP brought, which imaplib hands back here too)
        seen = [d for d in data if isinstance(d, bytes) and b"\\Flagged" in d]
        return typ == "OK" and seen and seen[-1]
    data, took = poll(flagged, "alice on node A sees \\Flagged set on node B")
    check(True, "alice's open session on node A sees the flag (%s): %r" % (took, data))
    alice.logout()


def run(command):
    r = subprocess.run(command, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        sys.exit("FAIL: %s: exit %d: %s" % (" ".join(command[:4]), r.returncode, (r.stderr or r.stdout).strip()))
    print("ok: ran", " ".join("postgres://…" if "://" in a else a for a in command))


def cmd_revoke(imap_a, bob_pw, *command):
    c = login(imap_a, "bob@example.test", bob_pw)
    typ, data = c.select(DELEG)
    check(typ == "OK", "bob on node A: SELECT %s" % DELEG)
    typ, _ = c.fetch("1", "(FLAGS)")
    check(typ == "OK", "bob on node A: FETCH before the revocation")
    run(command)

    def refused():
        try:
            typ, data = c.fetch("1", "(FLAGS)")
        except imaplib.IMAP4.error as e:  # NO or BAD raise with imaplib's fetch
            return str(e) or "refused"
        return None if typ == "OK" else repr(data)
    why, took = poll(refused, "bob's open session on node A refuses his next command after the revocation")
    check("revoked" in why.lower(), "bob's next FETCH on node A is refused (%s after the revocation): %s" % (took, why))
    typ, data = c.noop()  # the session itself goes on
    check(typ == "OK", "bob's session on node A is still usable (NOOP OK)")
    typ, data = c.select(DELEG)
    check(typ == "NO", "bob on node A cannot SELECT alice's INBOX again: %r" % data)
    c.logout()


def cmd_regrant(imap_b, bob_pw, *command):
    c = login(imap_b, "bob@example.test", bob_pw)
    typ, data = c.select(DELEG)
    check(typ == "NO", "bob on node B: SELECT %s refused without the right: %r" % (DELEG, data))
    run(command)

    def opened():
        typ, data = c.select(DELEG)
        return typ == "OK" and data
    data, took = poll(opened, "bob on node B opens alice's INBOX after the grant through node A")
    check(True, "bob on node B: SELECT %s OK (%s after the grant; %s messages)" % (DELEG, took, data[0].decode()))
    c.logout()


def main():
    args = sys.argv[1:]
    if "--" in args:
        i = args.index("--")
        args = args[:i] + args[i + 1:]
    cmds = {"idle": cmd_idle, "flag": cmd_flag, "revoke": cmd_revoke, "regrant": cmd_regrant}
    if not args or args[0] not in cmds:
        sys.exit(__doc__)
    try:
        cmds[args[0]](*args[1:])
    except (imaplib.IMAP4.error, smtplib.SMTPException, OSError) as e:
        sys.exit("FAIL: %s: %s" % (type(e).__name__, e))


if __name__ == "__main__":
    main()
