package dev.cmwq.workqueue.bench;

import dev.cmwq.workqueue.CpuLocator;
import dev.cmwq.workqueue.ThreadPlacement;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * What "which CPU is the issuer on" costs on the queueing hot path of a bound queue: the native
 * {@code sched_getcpu()} through FFM against the fallback's per-thread hash, with reading the
 * current thread as the floor.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class CpuLookupBenchmark {
    private ThreadPlacement placement;
    private CpuLocator perThread;

    @Setup
    public void setUp() {
        placement = ThreadPlacement.load();
        if (!placement.enforced()) {
            throw new IllegalStateException("native placement not available: " + placement.description());
        }
        perThread = CpuLocator.perThread();
    }

    @Benchmark
    public int schedGetcpu() {
        return placement.currentCpu();
    }

    @Benchmark
    public int perThreadHash() {
        return perThread.currentCpu();
    }

    @Benchmark
    public Thread currentThread() {
        return Thread.currentThread();
    }
}
