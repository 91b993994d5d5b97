package smtp

import (
	"fmt"
	"testing"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/mailgate/mailgate/storage/auth"
)

// TestAuthThrottleSpray: dave logging in successfully between guesses at
// other accounts from the same IP no longer resets the IP's count: after
// MaxFailuresPerIP guesses the rest get 454 4.7.0, and so does bob's right
// password from this IP; alice, who logged in from here before, still
// gets in (after a short wait).
func TestAuthThrottleSpray(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{InsecureAuth: true})
	login(t, f.sub, "alice@example.test").Quit()
	failed, throttled := 0, 0
	victims := []string{"bob@example.test", "carol@example.test", "erin@example.test", "nobody@example.test"}
	for i := range auth.MaxFailuresPerIP + 5 {
		err := dial(t, f.sub).Auth(sasl.NewPlainClient("", victims[i%len(victims)], fmt.Sprint("guess", i)))
		se, _ := err.(*gosmtp.SMTPError)
		switch {
		case se != nil && se.Code == 535 && se.EnhancedCode == gosmtp.EnhancedCode{5, 7, 8}:
			failed++
		case se != nil && se.Code == 454 && se.EnhancedCode == gosmtp.EnhancedCode{4, 7, 0}:
			throttled++
		default:
			t.Fatalf("guess %d: %v", i, err)
		}
		if i%3 == 2 && i < auth.MaxFailuresPerIP {
			login(t, f.sub, "dave@example.test").Quit()
		}
	}
	if failed != auth.MaxFailuresPerIP || throttled != 5 {
		t.Errorf("%d guesses checked, %d throttled; want %d and 5", failed, throttled, auth.MaxFailuresPerIP)
	}
	wantReply(t, "bob's right password from the spraying IP",
		dial(t, f.sub).Auth(sasl.NewPlainClient("", "bob@example.test", testPassword)), 454, gosmtp.EnhancedCode{4, 7, 0})
	if err := dial(t, f.sub).Auth(sasl.NewPlainClient("", "alice@example.test", testPassword)); err != nil {
		t.Errorf("alice's right password from her known-good IP: %v", err)
	}
}
