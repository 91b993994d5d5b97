package wire

import (
	"bytes"
	"time"
)

// Dates of RFC 9051 §9: date (SEARCH) and date-time (APPEND, INTERNALDATE).

var months = [12]string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}

// month reads a three-letter month name in any letter case.
func (p *Parser) month() (time.Month, bool) {
	if len(p.b)-p.pos < 3 {
		return 0, false
	}
	m := bytes.ToLower(p.b[p.pos : p.pos+3])
	for i, name := range months {
		if string(m) == name {
			p.pos += 3
			return time.Month(i + 1), true
		}
	}
	return 0, false
}

// fixed reads exactly n digits.
func (p *Parser) fixed(n int) (int, bool) {
	v := 0
	for i := 0; i < n; i++ {
		c := p.Peek()
		if !isDigit(c) {
			return 0, false
		}
		v = v*10 + int(c-'0')
		p.pos++
	}
	return v, true
}

// day reads date-day (1*2DIGIT), or a leading space and a digit as in
// date-day-fixed.
func (p *Parser) day() (int, bool) {
	if p.Accept(' ') {
		return p.fixed(1)
	}
	d, ok := p.fixed(1)
	if !ok {
		return 0, false
	}
	if isDigit(p.Peek()) {
		e, _ := p.fixed(1)
		d = d*10 + e
	}
	return d, true
}

// ymd reads day "-" month "-" year and checks the day exists.
func (p *Parser) ymd() (int, time.Month, int, bool) {
	d, ok := p.day()
	if !ok || !p.Accept('-') {
		return 0, 0, 0, false
	}
	m, ok := p.month()
	if !ok || !p.Accept('-') {
		return 0, 0, 0, false
	}
	y, ok := p.fixed(4)
	if !ok || d < 1 || time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Day() != d {
		return 0, 0, 0, false
	}
	return y, m, d, true
}

// DateTime reads a quoted date-time "dd-Mon-yyyy hh:mm:ss +zzzz" (RFC
// 9051 §9; the day may be " d" or, liberally, "d").
func (p *Parser) DateTime() (time.Time, error) {
	start := p.pos
	bad := func() (time.Time, error) { return time.Time{}, p.errAt(start, "invalid date-time") }
	if !p.Accept('"') {
		return bad()
	}
	y, mo, d, ok := p.ymd()
	if !ok || !p.Accept(' ') {
		return bad()
	}
	hh, ok1 := p.fixed(2)
	c1 := p.Accept(':')
	mm, ok2 := p.fixed(2)
	c2 := p.Accept(':')
	ss, ok3 := p.fixed(2)
	if !ok1 || !ok2 || !ok3 || !c1 || !c2 || hh > 23 || mm > 59 || ss > 60 || !p.Accept(' ') {
		return bad()
	}
	sign := 1
	switch {
	case p.Accept('-'):
		sign = -1
	case p.Accept('+'):
	default:
		return bad()
	}
	zh, ok1 := p.fixed(2)
	zm, ok2 := p.fixed(2)
	if !ok1 || !ok2 || zm > 59 || !p.Accept('"') {
		return bad()
	}
	zone := time.FixedZone("", sign*(zh*3600+zm*60))
	return time.Date(y, mo, d, hh, mm, ss, 0, zone), nil
}

// Date reads a date, d-Mon-yyyy, quoted or not; the time is midnight UTC.
func (p *Parser) Date() (time.Time, error) {
	start := p.pos
	q := p.Accept('"')
	y, m, d, ok := p.ymd()
	if !ok || (q && !p.Accept('"')) {
		return time.Time{}, p.errAt(start, "invalid date")
	}
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC), nil
}
