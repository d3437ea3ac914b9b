// Package procid names a process across the machine's life, so that what
// a process leaves behind (a database, a folder) can carry its name and
// be swept once the process is gone even when it was killed: a PID is
// reused, a PID with its start time on the same boot of the same host is
// not.
package procid

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ID identifies a process: its host, the boot of that host, its PID and
// its start time (clock ticks since boot).
type ID struct {
	Host  string
	Boot  string
	PID   int
	Start int64
}

// Self is the running process's ID.
func Self() (ID, error) { return Of(os.Getpid()) }

// Of is the ID of process pid of this host.
func Of(pid int) (ID, error) {
	host, err := os.Hostname()
	if err != nil {
		return ID{}, fmt.Errorf("host name: %w", err)
	}
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ID{}, fmt.Errorf("boot id: %w", err)
	}
	start, err := processStart(pid)
	if err != nil {
		return ID{}, err
	}
	return ID{Host: host, Boot: strings.TrimSpace(string(boot)), PID: pid, Start: start}, nil
}

// processStart returns the start time of process pid in clock ticks since
// boot (field 22 of /proc/PID/stat).
func processStart(pid int) (int64, error) {
	f, err := StatFields(pid)
	if err != nil {
		return 0, err
	}
	if len(f) < 20 {
		return 0, fmt.Errorf("process %d: unexpected /proc stat %q", pid, f)
	}
	return strconv.ParseInt(f[19], 10, 64) // field 22 of proc(5)
}

// StatFields returns the fields of /proc/PID/stat after the command name,
// which is in parentheses and may itself hold spaces and parentheses:
// f[0] is the state (field 3 of proc(5)), f[1] the parent's PID.
func StatFields(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, fmt.Errorf("process %d: %w", pid, err)
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, fmt.Errorf("process %d: unexpected /proc stat %q", pid, b)
	}
	return strings.Fields(string(b[i+1:])), nil
}

// Alive reports whether the process id names still runs, for an id of
// this host's current boot (the caller compares Host and Boot).
func Alive(id ID) bool {
	start, err := processStart(id.PID)
	return err == nil && start == id.Start
}

// String is the ID as "host=H boot=B pid=P start=S", which Parse reads.
func (id ID) String() string {
	return fmt.Sprintf("host=%s boot=%s pid=%d start=%d", id.Host, id.Boot, id.PID, id.Start)
}

// Parse reads an ID written by String; fields it does not find stay zero.
func Parse(s string) ID {
	var id ID
	for _, f := range strings.Fields(s) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "host":
			id.Host = v
		case "boot":
			id.Boot = v
		case "pid":
			id.PID, _ = strconv.Atoi(v)
		case "start":
			id.Start, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return id
}
