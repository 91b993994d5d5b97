#!/usr/bin/env python3
"""Python smtplib against mailgate submission: carol (Send on Behalf on
alice) is accepted; dave (no rights) sending as alice gets 550 5.7.1.

usage: smtplib_check.py HOST PORT CAROL_PASSWORD DAVE_PASSWORD
"""
import smtplib
import sys
from email.message import EmailMessage

host, port, carol_pw, dave_pw = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]


def message(subject):
    m = EmailMessage()
    m["From"] = "Alice <alice@example.test>"
    m["To"] = "bob@example.test"
    m["Subject"] = subject
    m.set_content("sent by smtplib\n")
    return m


with smtplib.SMTP(host, port, timeout=20) as s:
    s.login("carol@example.test", carol_pw)
    refused = s.send_message(message("e2e smtplib on behalf"), from_addr="carol@example.test")
    if refused:
        sys.exit("FAIL: carol refused: %r" % refused)
    print("ok: carol's on-behalf message accepted")

with smtplib.SMTP(host, port, timeout=20) as s:
    s.login("dave@example.test", dave_pw)
    try:
        s.send_message(message("e2e smtplib refused"), from_addr="dave@example.test")
        sys.exit("FAIL: dave's message as alice was accepted")
    except smtplib.SMTPDataError as e:
        if e.smtp_code != 550 or b"5.7.1" not in e.smtp_error:
            sys.exit("FAIL: dave refused with %d %r, want 550 5.7.1" % (e.smtp_code, e.smtp_error))
        print("ok: dave refused: %d %s" % (e.smtp_code, e.smtp_error.decode()))
