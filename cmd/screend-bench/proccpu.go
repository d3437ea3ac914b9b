package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"screend/internal/procid"
)

// procTicks returns a process's CPU ticks from /proc/PID/stat: its own
// (user + system, all threads) and those of its children it has waited
// for (cutime + cstime). ok is false when the process cannot be read.
func procTicks(pid int) (own, reaped int64, ok bool) {
	f, err := procid.StatFields(pid)
	if err != nil || len(f) < 15 {
		return 0, 0, false
	}
	n := func(i int) int64 { v, _ := strconv.ParseInt(f[i], 10, 64); return v }
	// Fields from the state on (field 3 of proc(5) is f[0]): utime is
	// field 14, stime 15, cutime 16, cstime 17.
	return n(11) + n(12), n(13) + n(14), true
}

// clusterTicks returns the CPU ticks a PostgreSQL cluster has used: its
// postmaster's own, those of the children it reaped (backends that ended:
// short-lived connections), and those of its live children (backends,
// the WAL writer, the checkpointer, autovacuum). It returns 0 when the
// postmaster cannot be read.
func clusterTicks(postmaster int) int64 {
	own, reaped, ok := procTicks(postmaster)
	if !ok {
		return 0
	}
	total := own + reaped
	children, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", postmaster, postmaster))
	if err != nil {
		return total
	}
	for _, c := range strings.Fields(string(children)) {
		pid, _ := strconv.Atoi(c)
		if own, _, ok := procTicks(pid); ok {
			total += own
		}
	}
	return total
}

// findPostmaster returns the PID of the postmaster serving the database
// at url when it runs on this machine (the parent of the backend of a
// connection to it, if that is a PostgreSQL process), or 0.
func findPostmaster(ctx context.Context, url string) int {
	conn, err := connect(ctx, url)
	if err != nil {
		return 0
	}
	defer conn.Close(ctx)
	var backend int
	if err := conn.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&backend); err != nil {
		return 0
	}
	f, err := procid.StatFields(backend)
	if err != nil || len(f) < 2 {
		return 0 // a server on another machine, or in another PID namespace
	}
	pm, _ := strconv.Atoi(f[1])
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pm))
	if err != nil || !strings.HasPrefix(strings.TrimSpace(string(comm)), "postgres") {
		return 0
	}
	return pm
}
