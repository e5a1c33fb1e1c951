// Package e2e holds the end-to-end test of the suite: the five real
// servers built from source, started as processes by `chorus up`, and
// driven through the gateway's REST API as a user would; and the offline
// default a new user meets first, `chorus demo` run from the repository root
// with no configuration (the embedded chorus-mini and flite).
package e2e
