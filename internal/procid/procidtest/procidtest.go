// Package procidtest starts processes for the tests of what procid names.
package procidtest

import (
	"os/exec"
	"testing"

	"screend/internal/procid"
)

// Sleeper starts a process that only sleeps and returns its ID; stop ends
// it (at once, and again harmlessly when the test ends).
func Sleeper(t testing.TB) (id procid.ID, stop func()) {
	t.Helper()
	cmd := exec.Command("sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop = func() { cmd.Process.Kill(); cmd.Wait() }
	t.Cleanup(stop)
	id, err := procid.Of(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	return id, stop
}
