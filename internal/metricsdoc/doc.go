// Package metricsdoc reads docs/metrics.md, the reference of every metric
// leaselb exports, and compares it with what the code registers and with
// what a running component serves on /metrics. Its tests keep the document
// honest; the lab calls CompareScrape on a real scrape.
//
// It must never be imported by the daemons: it exists for tests and tools.
package metricsdoc
