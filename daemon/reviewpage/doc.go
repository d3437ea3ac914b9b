// Package reviewpage serves the review page: a browser client of the SQL
// review queue (screend.review_queue, resolve_group, undo_group) that the
// daemon runs at SCREEND_REVIEW_LISTEN.
//
// The page itself is static HTML, CSS and JavaScript embedded in the binary
// (static/); it asks the JSON API below for the queue, the history and the
// images, and posts decisions:
//
//	GET  /                          the page (queue at /, history at /#history)
//	GET  /api/session               the reviewer's name and the CSRF token
//	GET  /api/queue?limit=&skip=    the next groups waiting for review
//	GET  /api/groups/{id}           one group waiting for review
//	GET  /api/images/{id}/thumb     a thumbnail (?size=small for the history)
//	GET  /api/images/{id}/full      the file at full resolution
//	GET  /api/images/{id}/companions the .yaml, .caption, ... beside it
//	GET  /api/history?...           decided groups, filtered
//	POST /api/resolve               a decision (resolve_group)
//	POST /api/undo                  a take-back (undo_group)
//
// Images are served by id, and only images recorded in a group, so no
// request can name a file. Thumbnails are made on demand and cached in
// memory and on disk, each bounded (thumbs.go). Every request is checked
// by guard (security.go): a password when one is set (required off
// loopback), the Host header, and for state-changing requests the
// browser's cross-origin headers and a per-session CSRF token.
package reviewpage
