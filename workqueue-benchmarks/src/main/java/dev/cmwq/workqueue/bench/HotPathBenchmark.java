package dev.cmwq.workqueue.bench;

import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The cost of the hot-path statistics: {@link ThroughputBenchmark}'s queue-and-run of a no-op item
 * on a bound queue, one producer, with the engine's per-item CPU accounting (two thread CPU clock
 * reads per item) on and off. No JFR recording is active, so the engine's JFR events cost only
 * their "is it enabled" check. The other hot-path extra, {@code sched_getcpu()} on a bound queue's
 * queueing path, is {@link CpuLookupBenchmark}.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 4, time = 2) // past the engine objects' tenuring (see ThroughputBenchmark)
@Measurement(iterations = 3, time = 2)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class HotPathBenchmark {

    @State(Scope.Benchmark)
    public static class Engine {
        @Param({"cmwq-bound", "cmwq-unbound"})
        public String backend;

        @Param({"true", "false"})
        public boolean cpuAccounting;

        Backend impl;

        @Setup(Level.Trial)
        public void setUp() {
            impl = Backend.create(backend, cpuAccounting);
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            impl.close();
        }
    }

    @Benchmark
    @Threads(1)
    public void queueAndRun(Engine e, ThroughputBenchmark.Producer p) {
        p.acquire();
        e.impl.submit(p.item);
    }
}
