package procid

import (
	"os/exec"
	"testing"
)

func TestAliveUntilItEnds(t *testing.T) {
	t.Parallel()
	me, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	if !Alive(me) {
		t.Errorf("this process %v is not alive", me)
	}
	cmd := exec.Command("sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	child, err := Of(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if child.Host != me.Host || child.Boot != me.Boot || child.Start < me.Start || !Alive(child) {
		t.Errorf("child %v of %v", child, me)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if Alive(child) {
		t.Errorf("child %v alive after it ended", child)
	}
	// The same PID started at another time is another process.
	if Alive(ID{Host: me.Host, Boot: me.Boot, PID: me.PID, Start: me.Start + 1}) {
		t.Error("a PID with another start time counts as alive")
	}
}

func TestStringParse(t *testing.T) {
	t.Parallel()
	id := ID{Host: "vm", Boot: "2f21bb62-83a7", PID: 4242, Start: 1234567}
	if got := Parse(id.String()); got != id {
		t.Errorf("Parse(%q) = %+v", id.String(), got)
	}
	if got := Parse("pid=7 and more"); got != (ID{PID: 7}) {
		t.Errorf("Parse of a partial ID = %+v", got)
	}
}
