// Command summary condenses a critest run for test/critest/run.sh.
//
//	summary junit FILE [ALLOW_REGEX]
//	summary bench DIR
//
// "junit" reads the Ginkgo JUnit report critest wrote with
// --ginkgo.junit-report and prints one "FAIL: <spec>" line per failed spec
// ("KNOWN-FAIL: <spec>" when the spec name matches ALLOW_REGEX), then exactly
// "critest: N passed, M failed, K skipped" as its last line. It exits 1 when
// an unexpected failure is present, so the runner's exit code follows it.
//
// "bench" reads the *_benchmark_data.json files critest --benchmark writes
// into --benchmarking-output-dir and prints the mean, median and p95 latency
// of every operation.
//
// It only reads the report files it is given and prints to stdout; it never
// talks to the runtime, the registry or the network.
package main
