package testenv

import (
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// BulkHash is a real bcrypt hash (of "secret", cost 4) for generated
// users: hashing 10,000 passwords at the default cost would take minutes.
var BulkHash = func() string {
	h, err := bcrypt.GenerateFromPassword([]byte("secret"), 4)
	if err != nil {
		panic(err)
	}
	return string(h)
}()

// BulkFile is a `mailgate import` CSV file: tenant big.test (no delay),
// users u00000@big.test … with BulkHash, and perUser grants on each
// user's mailbox to the next users, rights in turn: users*perUser grants.
func BulkFile(users, perUser int) string {
	rights := []string{"full-access", "send-as", "send-on-behalf"}
	var b strings.Builder
	b.WriteString("kind,domain,propagation,address,name,password_hash,mailbox,trustee,right\n")
	b.WriteString("tenant,big.test,0s,,,,,,\n")
	for i := range users {
		fmt.Fprintf(&b, "user,,,u%05d@big.test,User %d,%s,,,\n", i, i, BulkHash)
	}
	for i := range users {
		for j := 1; j <= perUser; j++ {
			fmt.Fprintf(&b, "grant,,,,,,u%05d@big.test,u%05d@big.test,%s\n", i, (i+j)%users, rights[(i+j)%len(rights)])
		}
	}
	return b.String()
}
