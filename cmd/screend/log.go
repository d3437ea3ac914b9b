package main

import (
	"io"
	"log/slog"
	"os"

	"github.com/lmittmann/tint"
	"golang.org/x/term"
)

// newLogger builds the logger for format ("text": tint, coloured when w is
// a terminal; "plain": text without timestamps, for journald, which adds
// its own; "json") and level.
func newLogger(format, level string, w io.Writer) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level)) // validated with the configuration
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lv}))
	case "plain":
		return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
			Level: lv,
			ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey && len(groups) == 0 {
					return slog.Attr{}
				}
				return a
			},
		}))
	default:
		return slog.New(tint.NewHandler(w, &tint.Options{Level: lv, NoColor: !isTerminal(w)}))
	}
}

// isTerminal tells whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
