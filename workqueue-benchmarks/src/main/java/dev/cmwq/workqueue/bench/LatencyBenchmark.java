package dev.cmwq.workqueue.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
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
 * Queue-to-start latency: one op submits an item and returns when the item has started, so JMH's
 * sample-time percentiles are the submit-to-start distribution (plus the handoff back, see below).
 *
 * <p>{@code load=light}: nothing else runs. {@code load=heavy}: {@link #BACKGROUND_THREADS}
 * background producers keep the executor busy with {@link #SPIN_NANOS} CPU-spinning items, each
 * with at most {@link #BACKGROUND_WINDOW} of them in flight, so the probe queues behind up to
 * {@code BACKGROUND_THREADS * BACKGROUND_WINDOW} items.
 *
 * <p>The handoff: the measuring thread spins ({@link Thread#onSpinWait()}) for up to
 * {@link #SPIN_LIMIT_NANOS}, then parks until the item unparks it. Starts within the spin limit are
 * seen within about a cache-line transfer; later ones also include a thread wake-up (tens of
 * microseconds), which on a 2-CPU machine is preferable to a spinning waiter taking a CPU from the
 * executor under test.
 */
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 4, time = 2) // past the engine objects' tenuring (see ThroughputBenchmark)
@Measurement(iterations = 3, time = 2)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
@Threads(1)
public class LatencyBenchmark {
    static final int BACKGROUND_THREADS = 2;
    static final int BACKGROUND_WINDOW = 8;
    static final long SPIN_NANOS = 20_000;
    static final long SPIN_LIMIT_NANOS = 50_000;

    @State(Scope.Benchmark)
    public static class Executor {
        @Param({"cmwq-bound", "cmwq-unbound", "cmwq-executor", "fjp-common", "tpe-fixed", "virtual"})
        public String backend;

        @Param({"light", "heavy"})
        public String load;

        Backend impl;
        private final List<Thread> background = new ArrayList<>();
        private volatile boolean stop;

        @Setup(Level.Trial)
        public void setUp() {
            impl = Backend.create(backend);
            stop = false;
            if (load.equals("heavy")) {
                for (int i = 0; i < BACKGROUND_THREADS; i++) {
                    Thread t = Thread.ofPlatform().daemon().name("bench-load-" + i).start(this::produceLoad);
                    background.add(t);
                }
            } else if (!load.equals("light")) {
                throw new IllegalArgumentException("unknown load: " + load);
            }
        }

        private void produceLoad() {
            Semaphore window = new Semaphore(BACKGROUND_WINDOW);
            Runnable spin = () -> {
                long end = System.nanoTime() + SPIN_NANOS;
                while (System.nanoTime() < end) {
                    Thread.onSpinWait();
                }
                window.release();
            };
            try {
                while (!stop) {
                    if (window.tryAcquire(10, TimeUnit.MILLISECONDS)) {
                        impl.submit(spin);
                    }
                }
                window.tryAcquire(BACKGROUND_WINDOW, 30, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        @TearDown(Level.Trial)
        public void tearDown() throws InterruptedException {
            stop = true;
            for (Thread t : background) {
                t.join(30_000);
            }
            background.clear();
            impl.close();
        }
    }

    /** The probe item: marks itself started and wakes the measuring thread if it parked. */
    @State(Scope.Thread)
    public static class Probe implements Runnable {
        volatile boolean started;
        volatile Thread waiter;

        @Override
        public void run() {
            started = true;
            Thread w = waiter;
            if (w != null) {
                LockSupport.unpark(w);
            }
        }

        void await() {
            long spinUntil = System.nanoTime() + SPIN_LIMIT_NANOS;
            while (!started) {
                if (System.nanoTime() < spinUntil) {
                    Thread.onSpinWait();
                } else {
                    waiter = Thread.currentThread();
                    if (!started) {
                        LockSupport.parkNanos(this, 1_000_000);
                    }
                }
            }
            waiter = null;
        }
    }

    @Benchmark
    public boolean queueToStart(Executor ex, Probe probe) {
        probe.started = false;
        ex.impl.submit(probe);
        probe.await();
        return probe.started;
    }
}
