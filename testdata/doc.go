// Package testdata holds corpora, golden messages and fuzz seeds shared by
// several packages, and the check that every package documents its job.
package testdata
