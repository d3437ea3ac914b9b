package sql

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Listener is a connection of its own that receives PostgreSQL
// notifications (screend.Channel*) on the channels it listens to.
type Listener struct {
	conn *pgx.Conn
}

// Listen opens a connection to url listening to channels.
func Listen(ctx context.Context, url string, channels ...string) (*Listener, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	for _, ch := range channels {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			conn.Close(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("listen to %s: %w", ch, err)
		}
	}
	return &Listener{conn: conn}, nil
}

// Wait returns the channel of the next notification.
func (l *Listener) Wait(ctx context.Context) (string, error) {
	n, err := l.conn.WaitForNotification(ctx)
	if err != nil {
		return "", fmt.Errorf("wait for notification: %w", err)
	}
	return n.Channel, nil
}

// Close closes the connection.
func (l *Listener) Close(ctx context.Context) error {
	return l.conn.Close(ctx)
}
