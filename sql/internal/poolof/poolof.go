// Package poolof lets sql/sqltest reach the connection pool of a sql.DB,
// which nothing outside package sql can: tests look at and arrange the
// database with SQL of their own, production code only through sql's
// queries.
package poolof

import "github.com/jackc/pgx/v5/pgxpool"

// Of returns the pool of a *sql.DB; package sql sets it.
var Of func(db any) *pgxpool.Pool
