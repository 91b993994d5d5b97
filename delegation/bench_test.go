package delegation

import (
	"fmt"
	"testing"
	"time"
)

// benchDirectory: 5k users, 1k groups (each with 10 members, every tenth
// group nested in another), 10k grants spread over the users.
func benchDirectory(b *testing.B) *Directory {
	const users, groups, grants = 5000, 1000, 10000
	var ps []Principal
	for i := range users {
		ps = append(ps, Principal{ID: ID(fmt.Sprintf("u%d", i)), Kind: KindUser, Tenant: "a.test", Address: fmt.Sprintf("u%d@a.test", i)})
	}
	for i := range groups {
		g := Principal{ID: ID(fmt.Sprintf("g%d", i)), Kind: KindGroup, Tenant: "a.test", Address: fmt.Sprintf("g%d@a.test", i)}
		for j := range 10 {
			g.Members = append(g.Members, ID(fmt.Sprintf("u%d", (i*10+j)%users)))
		}
		if i%10 == 0 && i > 0 {
			g.Members = append(g.Members, ID(fmt.Sprintf("g%d", i-1)))
		}
		ps = append(ps, g)
	}
	var gs []Grant
	rights := []Right{FullAccess, SendAs, SendOnBehalf}
	for i := range grants {
		trustee := ID(fmt.Sprintf("u%d", (i*7+1)%users))
		if i%4 == 0 {
			trustee = ID(fmt.Sprintf("g%d", i%groups))
		}
		gs = append(gs, Grant{ID: fmt.Sprintf("x%d", i), Mailbox: ID(fmt.Sprintf("u%d", i%users)), Trustee: trustee,
			Right: rights[i%3], EffectiveAt: t0})
	}
	d, err := NewDirectory([]Tenant{{Domain: "a.test"}}, ps, gs)
	if err != nil {
		b.Fatal(err)
	}
	return d
}

func BenchmarkSend(b *testing.B) {
	d := benchDirectory(b)
	now := t0.Add(time.Hour)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		d.Send(ID(fmt.Sprintf("u%d", i%5000)), "u42@a.test", now)
	}
}

func BenchmarkOpen(b *testing.B) {
	d := benchDirectory(b)
	now := t0.Add(time.Hour)
	actors := make([]ID, 5000)
	for i := range actors {
		actors[i] = ID(fmt.Sprintf("u%d", i))
	}
	for i := 0; b.Loop(); i++ {
		d.Open(actors[i%len(actors)], "u42", now)
	}
}

func BenchmarkFullAccessMailboxes(b *testing.B) {
	d := benchDirectory(b)
	now := t0.Add(time.Hour)
	for i := 0; b.Loop(); i++ {
		d.FullAccessMailboxes(ID(fmt.Sprintf("u%d", i%5000)), now)
	}
}

func BenchmarkNewDirectory(b *testing.B) {
	d := benchDirectory(b)
	var ps []Principal
	for _, p := range d.Principals() {
		ps = append(ps, *p)
	}
	var gs []Grant
	for _, g := range d.Grants() {
		gs = append(gs, *g)
	}
	for b.Loop() {
		if _, err := NewDirectory(d.Tenants(), ps, gs); err != nil {
			b.Fatal(err)
		}
	}
}
