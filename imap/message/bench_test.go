package message

import "testing"

const typical = "From: Alice Example <alice@example.org>\r\n" +
	"To: Bob <bob@example.net>, \"Carol, C.\" <carol@example.com>\r\n" +
	"Cc: team: dave@example.org, erin@example.org;\r\n" +
	"Subject: =?utf-8?q?Quarterly_report?=\r\n" +
	"Date: Mon, 2 Jun 2025 10:00:00 +0200\r\n" +
	"Message-ID: <123@example.org>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=\"=_outer\"\r\n" +
	"\r\n" +
	"This is a multi-part message in MIME format.\r\n" +
	"--=_outer\r\n" +
	"Content-Type: multipart/alternative; boundary=\"=_alt\"\r\n" +
	"\r\n" +
	"--=_alt\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"Hello Bob,=0D=0Aplease find the report attached.\r\n" +
	"Regards, Alice\r\n" +
	"--=_alt\r\n" +
	"Content-Type: text/html; charset=utf-8\r\n" +
	"\r\n" +
	"<p>Hello Bob,</p><p>please find the report attached.</p>\r\n" +
	"--=_alt--\r\n" +
	"--=_outer\r\n" +
	"Content-Type: application/pdf; name=\"report.pdf\"\r\n" +
	"Content-Disposition: attachment; filename=\"report.pdf\"\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"JVBERi0xLjQKJcOkw7zDtsOfCjIgMCBvYmoKPDwvTGVuZ3RoIDMgMCBSL0ZpbHRlci9GbGF0ZURlY29kZT4+\r\n" +
	"c3RyZWFtCnicK+QyVDA0MFAwMDRUKErlcgrhMlAwMjRRCMnlcgrhMgQAS8IEZAplbmRzdHJlYW0KZW5kb2Jq\r\n" +
	"--=_outer--\r\n"

func BenchmarkParseBodyStructureTypical(b *testing.B) {
	msg := []byte(typical)
	var dst []byte
	b.SetBytes(int64(len(msg)))
	for i := 0; i < b.N; i++ {
		p := Parse(msg, Limits{})
		dst = AppendBodyStructure(dst[:0], msg, p, true)
	}
}

func benchDeep(b *testing.B, multipart bool) {
	msg := deepMessage(10000, multipart)
	var dst []byte
	b.SetBytes(int64(len(msg)))
	for i := 0; i < b.N; i++ {
		p := Parse(msg, Limits{})
		dst = AppendBodyStructure(dst[:0], msg, p, true)
	}
}

func BenchmarkParseBodyStructureDeepRFC822(b *testing.B)    { benchDeep(b, false) }
func BenchmarkParseBodyStructureDeepMultipart(b *testing.B) { benchDeep(b, true) }

func BenchmarkAppendEnvelope(b *testing.B) {
	msg := []byte(typical)
	h := msg[:Parse(msg, Limits{}).BodyStart]
	var dst []byte
	for i := 0; i < b.N; i++ {
		dst = AppendEnvelope(dst[:0], h)
	}
}

func BenchmarkTextContains(b *testing.B) {
	msg := []byte(typical)
	p := Parse(msg, Limits{})
	for i := 0; i < b.N; i++ {
		TextContains(msg, p, "ATTACHED", true)
	}
}
