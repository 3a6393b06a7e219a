// Package benchkit holds what the appliance's benchmark commands
// (avanti-bench, avanti-fanout) share: the run's scaffolding and progress
// lines, a fresh database for the run, measured latencies and the
// report's table.
package benchkit
