// Package sql holds screend's schema and every query it runs.
//
// The schema lives in migrations/ as numbered SQL files embedded in the
// binary and applied in order by Migrate. Queries are plain SQL with explicit
// column lists, one file per table or concept, as methods on DB. Nothing
// outside this package writes SQL, except the SQL users run against the
// review queue (see the README).
package sql

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	pgxvector "github.com/pgvector/pgvector-go/pgx"
)

// DB is the connection pool with screend's queries.
type DB struct {
	Pool *pgxpool.Pool
}

// Open connects to the database at url and registers the pgvector types on
// every connection. The vector extension must exist (the setup script or
// the first migration creates it).
func Open(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	cfg.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		return registerVector(ctx, conn)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	return &DB{Pool: pool}, nil
}

// VectorExtension tells whether the pgvector extension is available on the
// server and whether it is created in this database.
func (db *DB) VectorExtension(ctx context.Context) (available, installed bool, err error) {
	err = db.Pool.QueryRow(ctx, `
		SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector'),
		       EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector')`).Scan(&available, &installed)
	if err != nil {
		return false, false, fmt.Errorf("look up the vector extension: %w", err)
	}
	return available, installed, nil
}

// registerVector registers pgvector's types when the extension exists; a
// database that is not migrated yet has none, and Migrate creates it.
func registerVector(ctx context.Context, conn *pgx.Conn) error {
	var exists bool
	err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'vector')`).Scan(&exists)
	if err != nil {
		return fmt.Errorf("look up vector type: %w", err)
	}
	if !exists {
		return nil
	}
	if err := pgxvector.RegisterTypes(ctx, conn); err != nil {
		return fmt.Errorf("register vector types: %w", err)
	}
	return nil
}

// Close closes the pool.
func (db *DB) Close() { db.Pool.Close() }
