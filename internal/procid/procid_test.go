package procid_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"screend/internal/procid"
	"screend/internal/procid/procidtest"
)

func TestAliveUntilItEnds(t *testing.T) {
	t.Parallel()
	me, err := procid.Self()
	if err != nil {
		t.Fatal(err)
	}
	if !procid.Alive(me) {
		t.Errorf("this process %v is not alive", me)
	}
	child, stop := procidtest.Sleeper(t)
	if child.Host != me.Host || child.Boot != me.Boot || child.Start < me.Start || !procid.Alive(child) {
		t.Errorf("child %v of %v", child, me)
	}
	stop()
	if procid.Alive(child) {
		t.Errorf("child %v alive after it ended", child)
	}
	// The same PID started at another time is another process.
	if procid.Alive(procid.ID{Host: me.Host, Boot: me.Boot, PID: me.PID, Start: me.Start + 1}) {
		t.Error("a PID with another start time counts as alive")
	}
}

func TestStringParse(t *testing.T) {
	t.Parallel()
	id := procid.ID{Host: "vm", Boot: "2f21bb62-83a7", PID: 4242, Start: 1234567}
	if got := procid.Parse(id.String()); got != id {
		t.Errorf("procid.Parse(%q) = %+v", id.String(), got)
	}
	if got := procid.Parse("pid=7 and more"); got != (procid.ID{PID: 7}) {
		t.Errorf("Parse of a partial ID = %+v", got)
	}
}

// TestStatFieldsAfterAnOddName: a command name may hold ") ", which must
// not be taken for the end of the name.
func TestStatFieldsAfterAnOddName(t *testing.T) {
	t.Parallel()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	odd := filepath.Join(t.TempDir(), "z) S 1 (x")
	if err := os.Symlink(sleep, odd); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(odd, "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	f, err := procid.StatFields(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if len(f) < 20 || f[1] != strconv.Itoa(os.Getpid()) {
		t.Errorf("fields %q: want the parent %d second", f, os.Getpid())
	}
	id, err := procid.Of(cmd.Process.Pid)
	if err != nil || !procid.Alive(id) {
		t.Errorf("procid.Of: %+v, %v", id, err)
	}
}
