// Command screend-bench is screend's benchmark and fault harness. It makes a
// realistic corpus from real photographs, measures the machine's limits
// (decode alone, inference alone), drives a real `screend run` with the
// corpus dropped in the ways users drop files, and kills it (and
// PostgreSQL) at random moments to check that nothing is lost, duplicated
// or left half-done. Every command prints a Markdown report on stdout;
// --out FILE.json also writes it as JSON, with the Markdown in FILE.md.
// README.md beside this file is the manual.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage: screend-bench COMMAND [FLAGS]

commands:
  corpus   --photos DIR --out DIR --seed N --pictures N [--projects K]
  limits   --dir DIR [--embedder builtin|MODEL.onnx] [--threads N]
  load     --corpus DIR --mode live|cp|rsync|slow [--rate N] [--embedder ...]
  faults   --corpus DIR --rounds N
  hostile  [--items 1,4,...] [--out FILE.json]   (issue 10's hostile-input cases)
  issue3   --corpus DIR --model MODEL.onnx [--burst N]
  learn    --corpus DIR [--report DIR]
  curve    --corpus DIR [--reviewed 100,300,1000,3000] [--embedders builtin,cnn,both --encoder MODEL.onnx]
  review   [--groups N] [--side PX] [--pace D]

Run "screend-bench COMMAND -h" for the flags of a command.
`

// Exit codes, as screend's.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type command func(ctx context.Context, args []string, stdout, stderr io.Writer) error

var commands = map[string]command{
	"corpus":  corpusCmd,
	"limits":  limitsCmd,
	"load":    loadCmd,
	"hostile": hostileCmd,
	"faults":  faultsCmd,
	"issue3":  issue3Cmd,
	"learn":   learnCmd,
	"curve":   curveCmd,
	"review":  reviewCmd,
}

// usageError is a command-line mistake: exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// errFailed means a check failed; the report says which.
var errFailed = errors.New("checks failed")

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "screend-bench: unknown command %q\n%s", args[0], usage)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	err := cmd(ctx, args[1:], stdout, stderr)
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitUsage
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "screend-bench %s: %v\n", args[0], err)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "screend-bench %s: %v\n", args[0], err)
		return exitFailure
	}
}

// parse parses a command's flags; positional arguments are an error.
func parse(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}
