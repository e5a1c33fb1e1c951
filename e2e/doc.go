// Package e2e holds Chorus's black-box tests: the whole suite built and run
// as processes, driven as users drive it (the official OpenAI Go client, a
// browser through the Chrome DevTools protocol). Its test-only
// dependencies stay in this module, out of the product modules.
package e2e
