package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Machine describes where a report was made.
type Machine struct {
	Hostname   string  `json:"hostname"`
	CPUModel   string  `json:"cpu_model"`
	Cores      int     `json:"cores"`
	MemoryGB   float64 `json:"memory_gb"`
	LoadAvg    string  `json:"load_avg_at_start"`
	Kernel     string  `json:"kernel"`
	GoVersion  string  `json:"go_version"`
	PostgreSQL string  `json:"postgresql,omitempty"`
}

// readMachine reads the machine's description from /proc.
func readMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), GoVersion: runtime.Version()}
	m.Hostname, _ = os.Hostname()
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(line, "MemTotal:") {
				f := strings.Fields(line)
				if len(f) >= 2 {
					kb, _ := strconv.ParseFloat(f[1], 64)
					m.MemoryGB = round(kb/1024/1024, 1)
				}
			}
		}
	}
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(data))
		if len(f) >= 3 {
			m.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(data))
	}
	return m
}

// Report is what every command prints: JSON to --out, Markdown to stdout.
type Report struct {
	Command  string            `json:"command"`
	Started  time.Time         `json:"started"`
	Duration string            `json:"duration"`
	Machine  Machine           `json:"machine"`
	Settings map[string]string `json:"settings,omitempty"`
	Limits   []*Limits         `json:"limits,omitempty"`
	Loads    []*LoadResult     `json:"loads,omitempty"`
	Faults   []*FaultResult    `json:"faults,omitempty"`
	Hostile  []*HostileResult  `json:"hostile,omitempty"`
	Targets  []Target          `json:"targets,omitempty"`
	Problems []string          `json:"problems,omitempty"`
}

// Target is one goal checked against a measurement.
type Target struct {
	Name     string  `json:"name"`
	Goal     string  `json:"goal"`
	Measured float64 `json:"measured"`
	Met      bool    `json:"met"`
}

func newReport(args []string) *Report {
	return &Report{
		Command: "screend-bench " + strings.Join(args, " "),
		Started: time.Now().UTC().Truncate(time.Second),
		Machine: readMachine(),
	}
}

// finish prints the Markdown report and writes both forms to out (FILE and
// FILE with a .md extension) when out is set.
func (r *Report) finish(out string, stdout io.Writer) error {
	r.Duration = time.Since(r.Started).Round(time.Second).String()
	md := r.Markdown()
	fmt.Fprint(stdout, md)
	if out == "" {
		return nil
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	mdPath := strings.TrimSuffix(out, filepath.Ext(out)) + ".md"
	if mdPath == out {
		mdPath = out + ".md"
	}
	if err := os.WriteFile(mdPath, []byte(md), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// Markdown renders the report as short tables.
func (r *Report) Markdown() string {
	var b bytes.Buffer
	m := r.Machine
	fmt.Fprintf(&b, "### `%s`\n\n", r.Command)
	fmt.Fprintf(&b, "%s, took %s. Machine: %s, %d cores, %.1f GB, load %s at start, Linux %s, %s",
		r.Started.Format(time.RFC3339), r.Duration, m.CPUModel, m.Cores, m.MemoryGB, m.LoadAvg, m.Kernel, m.GoVersion)
	if m.PostgreSQL != "" {
		fmt.Fprintf(&b, ", %s", m.PostgreSQL)
	}
	b.WriteString(".\n")
	if len(r.Settings) > 0 {
		var parts []string
		for _, k := range sortedKeys(r.Settings) {
			parts = append(parts, k+"="+r.Settings[k])
		}
		fmt.Fprintf(&b, "Settings: `%s`.\n", strings.Join(parts, " "))
	}
	if len(r.Limits) > 0 {
		b.WriteString("\n| limits | embedder | files | decode workers | lanes × threads | decode only img/s | decode+preprocess img/s | inference only img/s | combined limit img/s | CPU s/img decode / +pre / inference |\n|---|---|---|---|---|---|---|---|---|---|\n")
		for _, l := range r.Limits {
			fmt.Fprintf(&b, "| %s | %s | %d | %d | %d × %d | %.2f | %.2f | %.2f | %.2f | %.3f / %.3f / %.3f |\n", l.Dir, l.Embedder, l.Files, l.DecodeWorkers, l.Lanes, l.Threads,
				l.DecodeOnly, l.DecodePreprocess, l.InferenceOnly, l.Combined, l.DecodeCPU, l.DecodePreprocessCPU, l.InferenceCPU)
		}
		for _, l := range r.Limits {
			if len(l.InferenceLayouts) == 0 {
				continue
			}
			b.WriteString("\n| inference alone, lanes × threads (the first is the daemon's) | img/s | CPU s/img |\n|---|---|---|\n")
			for _, p := range l.InferenceLayouts {
				fmt.Fprintf(&b, "| %d × %d | %.2f | %.4f |\n", p.Lanes, p.Threads, p.Rate, p.CPU)
			}
		}
		b.WriteString("\n| decoders (read, hash, decode) | decode only img/s | CPU s/img | Go's decoders img/s | Go's CPU s/img | speed-up (CPU) |\n|---|---|---|---|---|---|\n")
		for _, l := range r.Limits {
			fmt.Fprintf(&b, "| %s | %.2f | %.4f | %.2f | %.4f | **%.2fx** |\n", l.Decoder, l.DecodeOnlyMeasured, l.DecodeCPU, l.GoDecodeOnly, l.GoDecodeCPU, l.DecoderSpeedup)
		}
	}
	if len(r.Loads) > 0 {
		b.WriteString("\n| load | embedder | images | embedded | img/s to embedded | vs decode only | vs combined limit | latency p50 / p95 / p99 s | after embedding p50 / p95 s | groups | peak RSS MB | CPU avg cores | CPU s/img | CPU efficiency |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, l := range r.Loads {
			mode := l.Mode
			if l.Incomplete {
				mode += " (incomplete: timed out)"
			}
			fmt.Fprintf(&b, "| %s | %s | %d | %d | %.2f | %s | %s | %.1f / %.1f / %.1f | %.1f / %.1f | %d | %.0f | %.2f | %.3f | %s |\n",
				mode, l.Embedder, l.Images, l.Embedded, l.Rate, pct(l.VsDecodeOnly), pct(l.VsCombined),
				l.Latency.P50, l.Latency.P95, l.Latency.P99, l.LatencyAfterEmbed.P50, l.LatencyAfterEmbed.P95, l.Groups, l.PeakRSSMB, l.CPUCores, l.CPUPerImage, pct(l.CPUEfficiency))
		}
	}
	if len(r.Loads) > 0 {
		b.WriteString("\n| load (from the first byte copied) | s to last embedding | s to last group decided or flagged | img/s to last embedding | vs decode only | vs combined limit | daemon CPU s/img | decode-only CPU s/img | daemon / decode only | cores: daemon / machine busy | peak RSS MB |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, l := range r.Loads {
			fmt.Fprintf(&b, "| %s %s | %.1f | %.1f | %.2f | %s | %s | %.4f | %.4f | %.2f | %.2f / %.2f | %.0f |\n", l.Mode, l.Embedder,
				l.DropToEmbeddedSeconds, l.DropToDecidedSeconds, l.DropRateEmbedded, pct(l.DropVsDecodeOnly), pct(l.DropVsCombined),
				l.CPUPerImage, l.DecodeCPU, l.CPUVsDecode, l.DropDaemonCores, l.DropMachineCores, l.PeakRSSMB)
		}
	}
	if len(r.Loads) > 0 && r.Loads[0].DropCPU != nil {
		b.WriteString("\n| load (from the first byte copied) | CPU s/img: machine | daemon | PostgreSQL | bench (with cp, `screend status`) | other |\n|---|---|---|---|---|---|\n")
		for _, l := range r.Loads {
			if c := l.DropCPU; c != nil {
				pg := "–"
				if c.Postgres > 0 {
					pg = fmt.Sprintf("%.4f", c.Postgres)
				}
				fmt.Fprintf(&b, "| %s %s | %.4f | %.4f | %s | %.4f | %.4f |\n", l.Mode, l.Embedder, c.Machine, c.Daemon, pg, c.Bench, c.Other)
			}
		}
	}
	if len(r.Faults) > 0 {
		b.WriteString("\n| fault scenario | rounds | images | inventory | pending | planned moves | discovered | embeddings = embedded | max attempts | result |\n|---|---|---|---|---|---|---|---|---|---|\n")
		for _, f := range r.Faults {
			res := "PASS"
			if !f.OK {
				res = "FAIL"
			}
			fmt.Fprintf(&b, "| %s | %d | %d | %s | %d | %d | %d | %d = %d | %d | %s |\n", f.Scenario, f.Rounds, f.Images, f.Inventory,
				f.Pending, f.PlannedMoves, f.Discovered, f.Embeddings, f.EmbeddedImages, f.MaxAttempts, res)
		}
	}
	if len(r.Hostile) > 0 {
		b.WriteString("\n| item | hostile input | result | what happened | s | peak RSS MB |\n|---|---|---|---|---|---|\n")
		for _, h := range r.Hostile {
			res := "PASS"
			if !h.OK {
				res = "FAIL"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %.1f | %.0f |\n", h.Item, h.Name, res,
				strings.ReplaceAll(h.Detail, "|", "/"), h.Seconds, h.PeakRSSMB)
		}
	}
	if len(r.Targets) > 0 {
		b.WriteString("\n| target | goal | measured | met |\n|---|---|---|---|\n")
		for _, t := range r.Targets {
			met := "yes"
			if !t.Met {
				met = "**no**"
			}
			fmt.Fprintf(&b, "| %s | %s | %.3g | %s |\n", t.Name, t.Goal, t.Measured, met)
		}
	}
	if len(r.Problems) > 0 {
		b.WriteString("\nProblems:\n\n")
		for _, p := range r.Problems {
			fmt.Fprintf(&b, "- %s\n", p)
		}
	}
	b.WriteString("\n")
	return b.String()
}

func pct(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100*v)
}

func round(v float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	return float64(int64(v*p+0.5)) / p
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

// postgresVersion asks the server of url for its version.
func postgresVersion(ctx context.Context, url string) string {
	conn, err := connect(ctx, url)
	if err != nil {
		return ""
	}
	defer conn.Close(ctx)
	var v string
	if err := conn.QueryRow(ctx, `SHOW server_version`).Scan(&v); err != nil {
		return ""
	}
	return "PostgreSQL " + strings.Fields(v)[0]
}

// runQuiet runs a command and returns its combined output on failure.
func runQuiet(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
