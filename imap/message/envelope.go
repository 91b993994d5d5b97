package message

// envelope field indexes, in ENVELOPE order
const (
	envDate = iota
	envSubject
	envFrom
	envSender
	envReplyTo
	envTo
	envCc
	envBcc
	envInReplyTo
	envMessageID
	envFields
)

var envNames = [envFields]string{"date", "subject", "from", "sender", "reply-to", "to", "cc", "bcc", "in-reply-to", "message-id"}

func envIndex(name []byte) int {
	for k, n := range envNames {
		if len(n) == len(name) && equalFoldASCII(name, n) {
			return k
		}
	}
	return -1
}

// equalFoldASCII compares ASCII case-insensitively without allocating.
func equalFoldASCII(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func appendEnvelope(dst, header []byte) []byte {
	var vals [envFields]string
	var have [envFields]bool
	forEachField(header, func(f field) bool {
		if f.value == nil {
			return true
		}
		if k := envIndex(f.name); k >= 0 && !have[k] {
			vals[k], have[k] = unfold(f.value), true
		}
		return true
	})
	nstr := func(k int) {
		if have[k] {
			dst = appendString(dst, vals[k])
		} else {
			dst = append(dst, "NIL"...)
		}
	}
	addrs := func(k int) []Address {
		if !have[k] {
			return nil
		}
		return ParseAddressList(vals[k])
	}
	dst = append(dst, '(')
	nstr(envDate)
	dst = append(dst, ' ')
	nstr(envSubject)
	from := addrs(envFrom)
	dst = append(dst, ' ')
	dst = appendAddressList(dst, from)
	for _, k := range []int{envSender, envReplyTo} {
		dst = append(dst, ' ')
		as := addrs(k)
		if len(as) == 0 {
			as = from // RFC 9051 §7.5.2: default to From
		}
		dst = appendAddressList(dst, as)
	}
	for _, k := range []int{envTo, envCc, envBcc} {
		dst = append(dst, ' ')
		dst = appendAddressList(dst, addrs(k))
	}
	dst = append(dst, ' ')
	nstr(envInReplyTo)
	dst = append(dst, ' ')
	nstr(envMessageID)
	return append(dst, ')')
}
