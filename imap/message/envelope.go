package message

import "strings"

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

func envIndex(name []byte) int {
	if len(name) < 2 || len(name) > 11 {
		return -1
	}
	switch strings.ToLower(string(name)) {
	case "date":
		return envDate
	case "subject":
		return envSubject
	case "from":
		return envFrom
	case "sender":
		return envSender
	case "reply-to":
		return envReplyTo
	case "to":
		return envTo
	case "cc":
		return envCc
	case "bcc":
		return envBcc
	case "in-reply-to":
		return envInReplyTo
	case "message-id":
		return envMessageID
	}
	return -1
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
