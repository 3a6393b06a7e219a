//go:build race

package scan

// raceDetector is true under -race, which makes decoding far slower.
const raceDetector = true
