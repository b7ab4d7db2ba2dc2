package dev.cmwq.workqueue.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Collection;
import org.junit.jupiter.api.Test;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.Options;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

/** A smoke run of each benchmark (a few hundred milliseconds, in this JVM): it runs and measures something. */
class BenchmarkSmokeTest {

    private static Collection<RunResult> smoke(Class<?> benchmark, long millis) throws RunnerException {
        Options opt = new OptionsBuilder()
                .include(benchmark.getName())
                .forks(0)
                .warmupIterations(0)
                .measurementIterations(1)
                .measurementTime(TimeValue.milliseconds(millis))
                .build();
        Collection<RunResult> results = new Runner(opt).run();
        for (RunResult r : results) {
            assertThat(r.getPrimaryResult().getScore())
                    .as(r.getParams().getBenchmark() + " " + r.getParams())
                    .isPositive();
        }
        return results;
    }

    @Test
    void cpuLookupBenchmarkRuns() throws Exception {
        assertThat(smoke(CpuLookupBenchmark.class, 100)).hasSize(3);
    }

    @Test
    void throughputBenchmarkRuns() throws Exception {
        // 7 backends x {1, 4} producers
        assertThat(smoke(ThroughputBenchmark.class, 100)).hasSize(14);
    }

    @Test
    void latencyBenchmarkRuns() throws Exception {
        // 6 backends x {light, heavy}
        Collection<RunResult> results = smoke(LatencyBenchmark.class, 100);
        assertThat(results).hasSize(12);
        for (RunResult r : results) {
            assertThat(r.getPrimaryResult().getSampleCount()).as(r.getParams().toString()).isPositive();
        }
    }

    @Test
    void hotPathBenchmarkRuns() throws Exception {
        // {bound, unbound} x cpuAccounting {true, false}
        assertThat(smoke(HotPathBenchmark.class, 100)).hasSize(4);
    }

    @Test
    void tracepointBenchmarkRuns() throws Exception {
        // {bound, unbound} x recording {off, on}; the recorded trials read their events back
        assertThat(smoke(TracepointBenchmark.class, 200)).hasSize(4);
        assertThat(TracepointBenchmark.lastExecuteStartsRead).as("execute_start events recorded")
                .isGreaterThanOrEqualTo(TracepointBenchmark.LAST_ITEMS);
    }
}
