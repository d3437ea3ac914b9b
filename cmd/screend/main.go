// Command screend is the image-screening daemon and its command-line tools.
// It parses the configuration, builds the parts and runs them; everything
// else lives in the daemon, scoring, training and sql packages.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"screend/cmd/screend/config"
)

const usage = `usage: screend [--config FILE] COMMAND [ARGS]

commands:
  run                 the daemon: watch, embed, group, decide, apply
  migrate             apply pending database migrations and exit
  plan [--json] DIR   the groups the daemon would form for DIR
  status [--json]     images and groups by state, review queue, pending work
  doctor [--json]     check the set-up and say what to fix
  config              print the effective configuration (secrets hidden)
  train [--json] [--report DIR] [--min-groups N]
                      train on all human decisions, evaluate, register, promote if it passes the gate
  models list [--json] | promote ID | rollback
                      the model registry
  import logs [--json] [--project-map FOLDER=PROJECT]... FILE...
                      import the old workflow's decision logs (CSV)
  review list [--json]
                      the groups waiting for a human, most useful first
  review resolve GROUP_ID (--choose IMAGE_ID [--crop x1,y1,x2,y2 [--free-aspect] | --manual-crop] | --reject)
                      decide a flagged group, as screend.resolve_group does
  undo [--json] [--wait D] GROUP_ID
                      take back a decided group: its files move back and it waits for review again
`

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// usageError is a command-line mistake: exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// env is what every command gets: the configuration and where to write.
type env struct {
	cfg    config.Config
	stdout io.Writer
	stderr io.Writer
}

type command func(ctx context.Context, e env, args []string) error

var commands = map[string]command{
	"run":     runDaemon,
	"migrate": migrate,
	"plan":    plan,
	"status":  status,
	"doctor":  doctor,
	"config":  printConfig,
	"train":   train,
	"models":  models,
	"import":  importCmd,
	"review":  review,
	"undo":    undo,
}

func run(args []string, stdout, stderr io.Writer) int {
	global := flag.NewFlagSet("screend", flag.ContinueOnError)
	global.SetOutput(stderr)
	global.Usage = func() { fmt.Fprint(stderr, usage) }
	configFile := global.String("config", "", "TOML configuration file (default /etc/screend/screend.toml when present)")
	if err := global.Parse(args); err != nil {
		return exitUsage
	}
	rest := global.Args()
	if len(rest) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd, ok := commands[rest[0]]
	if !ok {
		fmt.Fprintf(stderr, "screend: unknown command %q\n%s", rest[0], usage)
		return exitUsage
	}
	cfg, err := config.Load(*configFile, os.LookupEnv)
	if err != nil {
		fmt.Fprintf(stderr, "screend: configuration: %v\n", err)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	err = cmd(ctx, env{cfg: cfg, stdout: stdout, stderr: stderr}, rest[1:])
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue) || errors.Is(err, flag.ErrHelp):
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "screend %s: %v\n", rest[0], err)
		}
		return exitUsage
	default:
		fmt.Fprintf(stderr, "screend %s: %v\n", rest[0], err)
		return exitFailure
	}
}

// flags parses a command's flags, which may come before or after its
// positional arguments; the positional arguments are returned.
func flags(name string, e env, args []string, define func(*flagSet)) ([]string, error) {
	fs := flag.NewFlagSet("screend "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	define(fs)
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// flagSet is the standard flag set, named short for the command definitions.
type flagSet = flag.FlagSet

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
