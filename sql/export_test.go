package sql

// Recomputable is the transaction option of the daemon's recomputable
// writes, for the tests.
var Recomputable = recomputable
