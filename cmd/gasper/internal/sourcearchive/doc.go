// Package sourcearchive packs an application's source directory into the
// gzip'd tar that `gasper app create --from DIR` and `gasper app deploy`
// upload to the master.
//
// It honours .gitignore and .gasperignore files (in DIR and below, with
// gitignore semantics: negation, directory-only and anchored patterns,
// "**"), always leaves out .git, keeps regular files and directories with
// their permission bits, and keeps symbolic links only when they point
// inside DIR by a relative path: any other link is an error naming it. The
// archive is deterministic (sorted entries, zeroed times and owners), so the
// same tree always gives the same bytes, and the master's content hash
// recognises an unchanged source.
package sourcearchive
