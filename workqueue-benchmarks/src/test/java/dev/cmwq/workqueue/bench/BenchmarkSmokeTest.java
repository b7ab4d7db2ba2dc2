package dev.cmwq.workqueue.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Collection;
import org.junit.jupiter.api.Test;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.Options;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

/** A smoke run of each benchmark (a few hundred milliseconds, in this JVM): it runs and measures something. */
class BenchmarkSmokeTest {

    @Test
    void cpuLookupBenchmarkRuns() throws Exception {
        Options opt = new OptionsBuilder()
                .include(CpuLookupBenchmark.class.getName())
                .forks(0)
                .warmupIterations(0)
                .measurementIterations(1)
                .measurementTime(TimeValue.milliseconds(100))
                .build();
        Collection<RunResult> results = new Runner(opt).run();
        assertThat(results).hasSize(3);
        for (RunResult r : results) {
            assertThat(r.getPrimaryResult().getScore()).as(r.getParams().getBenchmark()).isPositive();
        }
    }
}
