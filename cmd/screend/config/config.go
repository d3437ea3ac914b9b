// Package config reads screend's configuration: defaults, then a TOML
// file, then environment variables, which win. It is parsed once at start
// into a Config, validated, and turned into the options of the parts
// (Daemon) by cmd/screend.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"screend/daemon"

	"github.com/BurntSushi/toml"
	"github.com/robfig/cron/v3"

	"screend/daemon/reviewpage"
	"screend/scoring/embed"
)

// Config is screend's whole configuration, parsed once at start: the
// daemon's options (daemon.Options, whose fields say their defaults) and
// what only cmd/screend uses.
type Config struct {
	daemon.Options
	// Embedder is "builtin" or the path of an ONNX image encoder with its
	// preprocessor_config.json beside it. Default: builtin.
	Embedder string
	// EmbedderViews are the parts of each picture an ONNX encoder looks at,
	// one inference each (embed.ParseViews). Default: the whole picture.
	EmbedderViews []embed.View
	// InferenceLanes is the number of model runs an ONNX encoder runs at
	// once on its one session (embed.ONNXOptions.Lanes), each with
	// IntraOpThreads threads; the daemon embeds that many batches at once.
	// Default: the number of CPUs, at most MaxAutoLanes (InferenceLayout).
	InferenceLanes int
	// ONNXRuntimeLib is the path of the ONNX Runtime shared library.
	// Default: /usr/local/lib/screend/libonnxruntime.so.
	ONNXRuntimeLib string
	// LogFormat is "text" (tint, colour on a terminal), "plain" (no
	// timestamps, for journald) or "json". Default: text.
	LogFormat string
	// LogLevel is debug, info, warn or error. Default: info.
	LogLevel string
}

// Daemon returns the daemon's options.
func (c Config) Daemon() daemon.Options { return c.Options }

// parseThreshold reads an optional threshold in [0, 1] ("" = unset).
func parseThreshold(dst **float64, v string) error {
	if v == "" {
		*dst = nil
		return nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || f > 1 {
		return errors.New("must be empty or a number between 0 and 1")
	}
	*dst = &f
	return nil
}

func formatThreshold(p *float64) string {
	if p == nil {
		return ""
	}
	return strconv.FormatFloat(*p, 'g', -1, 64)
}

// setting is one configuration value: its TOML key, its environment
// variable, its default, and how it is read and printed.
type setting struct {
	key    string
	env    string
	def    string
	secret bool
	set    func(c *Config, v string) error
	get    func(c *Config) string
}

// DefaultDatabaseURL is the database scripts/setup.sh creates as root, on
// this host: without TLS, which protects nothing on the loopback interface
// and cost the daemon about 4% of its CPU per image.
const DefaultDatabaseURL = "postgres://screend:screend@127.0.0.1:5432/screend?sslmode=disable"

// DefaultONNXRuntimeLib is where scripts/setup.sh installs ONNX Runtime as root.
const DefaultONNXRuntimeLib = "/usr/local/lib/screend/libonnxruntime.so"

// DefaultConfigFile is read when --config is not given and the file exists.
const DefaultConfigFile = "/etc/screend/screend.toml"

var settings = []setting{
	{key: "database_url", env: "SCREEND_DATABASE_URL", def: DefaultDatabaseURL, secret: true,
		set: func(c *Config, v string) error { c.DatabaseURL = v; return nil },
		get: func(c *Config) string { return c.DatabaseURL }},
	{key: "inbox", env: "SCREEND_INBOX", def: "./var/inbox",
		set: func(c *Config, v string) error { c.Inbox = splitList(v); return nil },
		get: func(c *Config) string { return strings.Join(c.Inbox, ",") }},
	{key: "embedder", env: "SCREEND_EMBEDDER", def: "builtin",
		set: func(c *Config, v string) error { c.Embedder = v; return nil },
		get: func(c *Config) string { return c.Embedder }},
	{key: "embedder_views", env: "SCREEND_EMBEDDER_VIEWS", def: "full",
		set: func(c *Config, v string) (err error) { c.EmbedderViews, err = embed.ParseViews(v); return err },
		get: func(c *Config) string {
			names := make([]string, len(c.EmbedderViews))
			for i, v := range c.EmbedderViews {
				names[i] = v.Name
			}
			return strings.Join(names, ",")
		}},
	{key: "onnxruntime_lib", env: "SCREEND_ONNXRUNTIME_LIB", def: DefaultONNXRuntimeLib,
		set: func(c *Config, v string) error { c.ONNXRuntimeLib = v; return nil },
		get: func(c *Config) string { return c.ONNXRuntimeLib }},
	{key: "settle", env: "SCREEND_SETTLE", def: "2m",
		set: func(c *Config, v string) error { return parseDuration(&c.Settle, v) },
		get: func(c *Config) string { return c.Settle.String() }},
	{key: "listen", env: "SCREEND_LISTEN", def: "127.0.0.1:9464",
		set: func(c *Config, v string) error { c.Listen = v; return nil },
		get: func(c *Config) string { return c.Listen }},
	{key: "review_listen", env: "SCREEND_REVIEW_LISTEN", def: "127.0.0.1:9465",
		set: func(c *Config, v string) error { c.ReviewListen = v; return nil },
		get: func(c *Config) string { return c.ReviewListen }},
	{key: "review_password", env: "SCREEND_REVIEW_PASSWORD", def: "", secret: true,
		set: func(c *Config, v string) error { c.ReviewPassword = v; return nil },
		get: func(c *Config) string { return c.ReviewPassword }},
	{key: "review_cache", env: "SCREEND_REVIEW_CACHE", def: "./var/cache/review",
		set: func(c *Config, v string) error { c.ReviewCache = v; return nil },
		get: func(c *Config) string { return c.ReviewCache }},
	{key: "review_cache_mb", env: "SCREEND_REVIEW_CACHE_MB", def: "1024",
		set: func(c *Config, v string) (err error) { c.ReviewCacheMB, err = strconv.Atoi(v); return err },
		get: func(c *Config) string { return strconv.Itoa(c.ReviewCacheMB) }},
	{key: "review_memory_mb", env: "SCREEND_REVIEW_MEMORY_MB", def: "64",
		set: func(c *Config, v string) (err error) { c.ReviewMemoryMB, err = strconv.Atoi(v); return err },
		get: func(c *Config) string { return strconv.Itoa(c.ReviewMemoryMB) }},
	{key: "retrain_schedule", env: "SCREEND_RETRAIN_SCHEDULE", def: "0 3 * * *",
		set: func(c *Config, v string) error { c.RetrainSchedule = v; return nil },
		get: func(c *Config) string { return c.RetrainSchedule }},
	{key: "retrain_min_decisions", env: "SCREEND_RETRAIN_MIN_DECISIONS", def: "50",
		set: func(c *Config, v string) (err error) { c.RetrainMinDecisions, err = strconv.Atoi(v); return err },
		get: func(c *Config) string { return strconv.Itoa(c.RetrainMinDecisions) }},
	{key: "dry_run", env: "SCREEND_DRY_RUN", def: "false",
		set: func(c *Config, v string) (err error) { c.DryRun, err = strconv.ParseBool(v); return err },
		get: func(c *Config) string { return strconv.FormatBool(c.DryRun) }},
	{key: "drain_timeout", env: "SCREEND_DRAIN_TIMEOUT", def: "30s",
		set: func(c *Config, v string) error { return parseDuration(&c.DrainTimeout, v) },
		get: func(c *Config) string { return c.DrainTimeout.String() }},
	{key: "scan_interval", env: "SCREEND_SCAN_INTERVAL", def: "1m",
		set: func(c *Config, v string) error { return parseDuration(&c.ScanInterval, v) },
		get: func(c *Config) string { return c.ScanInterval.String() }},
	{key: "stable_for", env: "SCREEND_STABLE_FOR", def: "2s",
		set: func(c *Config, v string) error { return parseDuration(&c.StableFor, v) },
		get: func(c *Config) string { return c.StableFor.String() }},
	{key: "max_pixels", env: "SCREEND_MAX_PIXELS", def: "100000000",
		set: func(c *Config, v string) (err error) { c.MaxPixels, err = strconv.ParseInt(v, 10, 64); return err },
		get: func(c *Config) string { return strconv.FormatInt(c.MaxPixels, 10) }},
	{key: "decode_workers", env: "SCREEND_DECODE_WORKERS", def: strconv.Itoa(runtime.NumCPU()),
		set: func(c *Config, v string) (err error) { c.DecodeWorkers, err = strconv.Atoi(v); return err },
		get: func(c *Config) string { return strconv.Itoa(c.DecodeWorkers) }},
	{key: "decode_memory_mb", env: "SCREEND_DECODE_MEMORY_MB", def: "1024",
		set: func(c *Config, v string) (err error) { c.DecodeMemoryMB, err = strconv.ParseInt(v, 10, 64); return err },
		get: func(c *Config) string { return strconv.FormatInt(c.DecodeMemoryMB, 10) }},
	{key: "inference_lanes", env: "SCREEND_INFERENCE_LANES", def: "auto",
		set: func(c *Config, v string) error { return parseAuto(&c.InferenceLanes, v) },
		get: func(c *Config) string { return strconv.Itoa(c.InferenceLanes) }},
	{key: "intra_op_threads", env: "SCREEND_INTRA_OP_THREADS", def: "auto",
		set: func(c *Config, v string) error { return parseAuto(&c.IntraOpThreads, v) },
		get: func(c *Config) string { return strconv.Itoa(c.IntraOpThreads) }},
	{key: "batch_size", env: "SCREEND_BATCH_SIZE", def: "16",
		set: func(c *Config, v string) (err error) { c.BatchSize, err = strconv.Atoi(v); return err },
		get: func(c *Config) string { return strconv.Itoa(c.BatchSize) }},
	{key: "log_format", env: "SCREEND_LOG_FORMAT", def: "text",
		set: func(c *Config, v string) error { c.LogFormat = v; return nil },
		get: func(c *Config) string { return c.LogFormat }},
	{key: "log_level", env: "SCREEND_LOG_LEVEL", def: "info",
		set: func(c *Config, v string) error { c.LogLevel = v; return nil },
		get: func(c *Config) string { return c.LogLevel }},
	{key: "threshold_select", env: "SCREEND_THRESHOLD_SELECT", def: "",
		set: func(c *Config, v string) error { return parseThreshold(&c.Thresholds.Select, v) },
		get: func(c *Config) string { return formatThreshold(c.Thresholds.Select) }},
	{key: "threshold_crop", env: "SCREEND_THRESHOLD_CROP", def: "",
		set: func(c *Config, v string) error { return parseThreshold(&c.Thresholds.Crop, v) },
		get: func(c *Config) string { return formatThreshold(c.Thresholds.Crop) }},
	{key: "threshold_reject", env: "SCREEND_THRESHOLD_REJECT", def: "",
		set: func(c *Config, v string) error { return parseThreshold(&c.Thresholds.Reject, v) },
		get: func(c *Config) string { return formatThreshold(c.Thresholds.Reject) }},
}

// parseAuto reads a count of at least 1, or "auto" (0: chosen from the
// machine's cores, see InferenceLayout).
func parseAuto(dst *int, v string) error {
	if v == "auto" {
		*dst = 0
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return errors.New("must be auto or a whole number of at least 1")
	}
	*dst = n
	return nil
}

// MaxAutoLanes bounds the inference lanes chosen automatically: every
// running lane holds its own activations (about 40 MB for a
// ViT-B/32-shaped encoder with runs of 8), so a machine with more cores
// gets more threads per lane instead of more lanes.
const MaxAutoLanes = 4

// InferenceLayout returns the number of inference lanes (runs at once on
// the one ONNX Runtime session) and of intra-op threads per lane for a
// machine with cpus cores, from the settings, where 0 means automatic.
// Automatically every core gets one inference thread, in one-thread lanes
// (at most MaxAutoLanes of them): a run on one thread computes on the
// thread that calls it and never waits for, or spins on, threads that the
// decode workers keep from running at the end of a parallel section. The
// decode workers are not subtracted: both stages wait on bounded queues
// when the other is slower, so the cores go to whichever has work. A count
// given for one setting is kept and the other fills the cores.
func InferenceLayout(cpus, lanes, threads int) (int, int) {
	cpus = max(cpus, 1)
	switch {
	case lanes == 0 && threads == 0:
		lanes = min(cpus, MaxAutoLanes)
	case lanes == 0:
		lanes = min(max(cpus/threads, 1), MaxAutoLanes)
	}
	if threads == 0 {
		threads = max(cpus/lanes, 1)
	}
	return lanes, threads
}

// Error is a bad configuration value; the program exits with code 2.
type Error struct {
	Setting string
	Err     error
}

func (e *Error) Error() string { return fmt.Sprintf("setting %s: %v", e.Setting, e.Err) }
func (e *Error) Unwrap() error { return e.Err }

// Default returns the default configuration: no file, no environment.
func Default() Config {
	c, err := build(defaults())
	if err != nil {
		panic(fmt.Sprintf("defaults: %v", err))
	}
	return c
}

// Load builds the configuration from the defaults, then the TOML file
// at path (the default file when path is empty and it exists), then the
// environment as given by lookup, which wins. It validates the result.
func Load(path string, lookup func(string) (string, bool)) (Config, error) {
	values := defaults()
	if path == "" {
		if _, err := os.Stat(DefaultConfigFile); err == nil {
			path = DefaultConfigFile
		}
	}
	if path != "" {
		if err := readTOML(path, values); err != nil {
			return Config{}, err
		}
	}
	for _, s := range settings {
		if v, ok := lookup(s.env); ok {
			values[s.key] = v
		} else if s.key == "database_url" {
			if v, ok := lookup("DATABASE_URL"); ok {
				values[s.key] = v
			}
		}
	}
	c, err := build(values)
	if err != nil {
		return c, err
	}
	return c, c.Validate()
}

// defaults returns every setting's default value, by key.
func defaults() map[string]string {
	values := map[string]string{}
	for _, s := range settings {
		values[s.key] = s.def
	}
	return values
}

// build sets every setting from its value (by key) and lays out inference
// on this machine's cores (InferenceLayout).
func build(values map[string]string) (Config, error) {
	var c Config
	for _, s := range settings {
		if err := s.set(&c, strings.TrimSpace(values[s.key])); err != nil {
			return c, &Error{Setting: s.env, Err: err}
		}
	}
	c.InferenceLanes, c.IntraOpThreads = InferenceLayout(runtime.NumCPU(), c.InferenceLanes, c.IntraOpThreads)
	return c, nil
}

// readTOML overlays the values of the TOML file at path; unknown keys are
// errors so a misspelt setting is not silently ignored.
func readTOML(path string, values map[string]string) error {
	var raw map[string]any
	if _, err := toml.DecodeFile(path, &raw); err != nil {
		return &Error{Setting: path, Err: err}
	}
	for k, v := range raw {
		if _, ok := values[k]; !ok {
			return &Error{Setting: k, Err: fmt.Errorf("unknown setting in %s", path)}
		}
		switch v := v.(type) {
		case []any:
			parts := make([]string, len(v))
			for i, p := range v {
				parts[i] = fmt.Sprint(p)
			}
			values[k] = strings.Join(parts, ",")
		default:
			values[k] = fmt.Sprint(v)
		}
	}
	return nil
}

// Validate checks every value and names the setting that is wrong.
func (c Config) Validate() error {
	bad := func(env string, format string, args ...any) error {
		return &Error{Setting: env, Err: fmt.Errorf(format, args...)}
	}
	if _, err := url.Parse(c.DatabaseURL); err != nil || c.DatabaseURL == "" {
		return bad("SCREEND_DATABASE_URL", "not a connection URL")
	}
	if len(c.Inbox) == 0 {
		return bad("SCREEND_INBOX", "at least one folder is needed")
	}
	if c.Embedder == "" {
		return bad("SCREEND_EMBEDDER", "must be builtin or the path of an ONNX model")
	}
	if c.Embedder == "builtin" && (len(c.EmbedderViews) != 1 || !c.EmbedderViews[0].IsFull()) {
		return bad("SCREEND_EMBEDDER_VIEWS", "views are an ONNX encoder's; the built-in embedder sees the whole picture")
	}
	if c.Settle <= 0 {
		return bad("SCREEND_SETTLE", "must be positive, got %s", c.Settle)
	}
	if c.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			return bad("SCREEND_LISTEN", "%v", err)
		}
	}
	if c.ReviewListen != "" {
		if err := reviewpage.CheckListen(c.ReviewListen, c.ReviewPassword); err != nil {
			return bad("SCREEND_REVIEW_LISTEN", "%v", err)
		}
		if c.ReviewCache == "" {
			return bad("SCREEND_REVIEW_CACHE", "a folder is needed for the review page's thumbnails")
		}
		for _, root := range c.Inbox {
			if reviewpage.Inside(c.ReviewCache, root) {
				return bad("SCREEND_REVIEW_CACHE", "%s is inside the inbox %s", c.ReviewCache, root)
			}
		}
		if c.ReviewCacheMB < 1 || c.ReviewMemoryMB < 1 {
			return bad("SCREEND_REVIEW_CACHE_MB", "the cache limits must be at least 1 MiB")
		}
	}
	if c.RetrainSchedule != "" {
		if _, err := cron.ParseStandard(c.RetrainSchedule); err != nil {
			return bad("SCREEND_RETRAIN_SCHEDULE", "%v", err)
		}
	}
	if c.RetrainMinDecisions < 0 {
		return bad("SCREEND_RETRAIN_MIN_DECISIONS", "must not be negative, got %d", c.RetrainMinDecisions)
	}
	if c.DrainTimeout <= 0 {
		return bad("SCREEND_DRAIN_TIMEOUT", "must be positive, got %s", c.DrainTimeout)
	}
	if c.ScanInterval <= 0 {
		return bad("SCREEND_SCAN_INTERVAL", "must be positive, got %s", c.ScanInterval)
	}
	if c.StableFor < 0 {
		return bad("SCREEND_STABLE_FOR", "must not be negative, got %s", c.StableFor)
	}
	if c.MaxPixels <= 0 {
		return bad("SCREEND_MAX_PIXELS", "must be positive, got %d", c.MaxPixels)
	}
	if c.DecodeWorkers < 1 || c.DecodeWorkers > 256 {
		return bad("SCREEND_DECODE_WORKERS", "must be between 1 and 256, got %d", c.DecodeWorkers)
	}
	if c.DecodeMemoryMB < 16 {
		return bad("SCREEND_DECODE_MEMORY_MB", "must be at least 16, got %d", c.DecodeMemoryMB)
	}
	if c.InferenceLanes < 1 || c.InferenceLanes > 256 {
		return bad("SCREEND_INFERENCE_LANES", "must be between 1 and 256, got %d", c.InferenceLanes)
	}
	if c.IntraOpThreads < 1 || c.IntraOpThreads > 256 {
		return bad("SCREEND_INTRA_OP_THREADS", "must be between 1 and 256, got %d", c.IntraOpThreads)
	}
	if c.BatchSize < 1 || c.BatchSize > 1024 {
		return bad("SCREEND_BATCH_SIZE", "must be between 1 and 1024, got %d", c.BatchSize)
	}
	if !slices.Contains([]string{"text", "plain", "json"}, c.LogFormat) {
		return bad("SCREEND_LOG_FORMAT", "must be text, plain or json, got %q", c.LogFormat)
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.LogLevel) {
		return bad("SCREEND_LOG_LEVEL", "must be debug, info, warn or error, got %q", c.LogLevel)
	}
	return nil
}

// Settings returns every setting as (environment variable, value) pairs in
// a fixed order, with secrets redacted, for `screend config`.
func (c Config) Settings() [][2]string {
	out := make([][2]string, 0, len(settings))
	for _, s := range settings {
		v := s.get(&c)
		switch {
		case s.secret && s.key == "database_url":
			v = RedactURL(v)
		case s.secret && v != "":
			v = "(set, hidden)"
		}
		out = append(out, [2]string{s.env, v})
	}
	return out
}

// RedactURL hides the password of a connection URL.
func RedactURL(v string) string {
	u, err := url.Parse(v)
	if err != nil {
		return "(unparsable, hidden)"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

func parseDuration(d *time.Duration, v string) error {
	p, err := time.ParseDuration(v)
	if err != nil {
		return errors.New("not a duration such as 90s or 2m")
	}
	*d = p
	return nil
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
