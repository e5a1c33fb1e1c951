// Package e2e holds the end-to-end test of the suite: the five real
// servers built from source, started as processes by `chorus up`, and
// driven through the gateway's REST API as a user would.
package e2e
