package screend

// LockClass is the first key of a two-key PostgreSQL advisory lock
// (pg_advisory_lock(class, id)); the second key names the object locked. The
// values spell four letters, so that pg_locks reads back what holds them.
type LockClass int32

// The lock classes.
const (
	// LockInstance is held for its life by each running instance, on its
	// instance id ('scre'); screend.instance_alive checks it in SQL.
	LockInstance LockClass = 1935897189
	// LockProject serialises regrouping a project between instances, on its
	// project id ('grou'); held for a transaction.
	LockProject LockClass = 1735553909
	// LockRetrain is held while an instance trains, with second key 1
	// ('trai').
	LockRetrain LockClass = 1953653097
)

// Single-key advisory locks (pg_advisory_lock(key)).
const (
	// LockMigrate serialises migrations between instances starting at the
	// same time.
	LockMigrate int64 = 0x5c4ee7d0
	// LockTestTemplate serialises creating the test database template
	// between test binaries.
	LockTestTemplate int64 = 0x5c4ee7d1
)
