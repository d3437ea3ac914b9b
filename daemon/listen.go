package daemon

import (
	"context"
	"log/slog"
	"time"

	"screend"
	"screend/sql"
)

// listener turns PostgreSQL notifications into wake-ups, so a human
// resolution is applied and a promoted model is loaded within moments. The
// woken components also poll, so nothing is lost while the listener's
// connection is down.
type listener struct {
	url      string
	log      *slog.Logger
	resolved func()
	model    func()
	takeBack func()
}

// Run listens until ctx ends, reconnecting after errors.
func (l *listener) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		err := l.listen(ctx)
		if ctx.Err() != nil {
			return nil
		}
		l.log.Warn("notification listener disconnected; reconnecting", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
	return nil
}

func (l *listener) listen(ctx context.Context) error {
	ln, err := sql.Listen(ctx, l.url, screend.ChannelResolved, screend.ChannelModel, screend.ChannelTakeBack)
	if err != nil {
		return err
	}
	defer ln.Close(context.WithoutCancel(ctx))
	// Whatever happened while disconnected is picked up now.
	l.resolved()
	l.model()
	l.takeBack()
	for {
		channel, err := ln.Wait(ctx)
		if err != nil {
			return err
		}
		switch channel {
		case screend.ChannelResolved:
			l.resolved()
		case screend.ChannelModel:
			l.model()
		case screend.ChannelTakeBack:
			l.takeBack()
		}
	}
}
