package screend

// PostgreSQL NOTIFY channels. The payload is an id as text.
const (
	// ChannelResolved carries the id of a group a human resolved
	// (screend.resolve_group sends it); the daemon's applier wakes on it.
	ChannelResolved = "screend_resolved"
	// ChannelModel carries the id of a newly promoted model; the daemon's
	// decider loads it.
	ChannelModel = "screend_model"
)
