package dev.cmwq.workqueue.bench;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
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
 * Tiny-item throughput: queue and run a no-op item, from 1 and from 4 producer threads, on the
 * engine (bound queue, unbound queue, unbound queue with a strict pool per CPU, bound queue
 * through {@code asExecutor()}; see {@link Backend}) and on the JDK's executors. One op = one item submitted; each producer holds at most {@link #WINDOW} items in
 * flight (see {@link Producer}), so in a steady state the rate is the rate at which items complete, not just the rate at which they are enqueued. Each iteration ends
 * by waiting for every producer's window to drain.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
// 8 s of warm-up: about 4-5 s into a JVM the engine's long-lived objects reach G1's tenuring
// threshold and move to the old generation, after which a stream of no-op items runs 10-25 %
// slower (docs/benchmarks.md, "The engine's objects in the old generation"); a measurement that
// starts earlier mixes the two regimes.
@Warmup(iterations = 4, time = 2)
@Measurement(iterations = 3, time = 2)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class ThroughputBenchmark {
    /**
     * Items in flight per producer. The producer waits when its window is full and is woken when
     * half of it has drained, so the half must take the consumers longer to run than the producer
     * takes to wake and get a CPU back, or they run dry at every wait and the score measures the
     * harness's wake-ups. On these 2-vCPU VMs a woken producer may wait for a CPU behind a busy
     * consumer for milliseconds: with 1024 the fixed ThreadPoolExecutor ran at 60 % of the rate
     * it reaches from 4096 on (its threads park whenever its queue runs empty, and the items
     * queued after that wake them again), while cmwq's backends moved by 0-16 %
     * ({@code ThroughputProbe}'s {@code -Dprobe.window} sweep in docs/benchmarks.md). 8192 items
     * still in flight after a wait are over a millisecond of work for every backend here.
     */
    static final int WINDOW = 16384;

    @State(Scope.Benchmark)
    public static class Executor {
        @Param({"cmwq-bound", "cmwq-unbound", "cmwq-unbound-cpu-strict", "cmwq-executor", "fjp-common", "tpe-fixed", "virtual"})
        public String backend;

        Backend impl;

        @Setup(Level.Trial)
        public void setUp() {
            impl = Backend.create(backend);
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            impl.close();
        }
    }

    /**
     * A producer's window: at most {@code window} ({@link #WINDOW} unless given) of its items in
     * flight. When it is full the producer waits until half of it has drained (one wake-up per
     * {@code window / 2} items, not one per item, so a consumer slower than the producer is not
     * also charged a thread wake-up per item by the harness). The completion that reaches the
     * target takes the waiter (a CAS) and unparks it once: the completions after it, until the
     * producer runs again, do not unpark it again (when the producer shares a CPU with the consumer
     * they were hundreds of redundant unparks per wait, 4.5 % of all CPU in the bound queue's
     * profile).
     */
    @State(Scope.Thread)
    public static class Producer {
        private final int window;
        private final AtomicLong completed = new AtomicLong();
        private long submitted; // only the producer thread
        private volatile long wakeAt = Long.MAX_VALUE;
        private final AtomicReference<Thread> waiter = new AtomicReference<>();

        public Producer() {
            this(WINDOW);
        }

        /** A producer with another window (for {@link ThroughputProbe}'s sweep). */
        Producer(int window) {
            this.window = checkWindow(window);
        }

        /** {@code window}, if it is a usable window (at least 2 items); otherwise an error naming it. */
        static int checkWindow(int window) {
            if (window < 2) {
                throw new IllegalArgumentException("window " + window + ": must be at least 2 items");
            }
            return window;
        }

        /** The no-op item: counts itself completed. Shared by this producer's items. */
        final Runnable item = this::done;

        private void done() {
            if (completed.incrementAndGet() >= wakeAt) {
                Thread w = waiter.get();
                if (w != null && waiter.compareAndSet(w, null)) {
                    LockSupport.unpark(w);
                }
            }
        }

        /** Items of this producer that have completed. */
        long completed() {
            return completed.get();
        }

        /** Takes a place in the window, waiting if it is full. */
        void acquire() {
            if (submitted - completed.get() >= window) {
                awaitCompleted(submitted - window / 2, Long.MAX_VALUE);
            }
            submitted++;
        }

        private boolean awaitCompleted(long target, long deadline) {
            Thread me = Thread.currentThread();
            wakeAt = target;
            try {
                for (;;) {
                    // waiter, then completed (volatile write, then volatile read): Dekker with
                    // done(), which takes the waiter to unpark it; so it is set again each round
                    waiter.set(me);
                    if (completed.get() >= target) {
                        return true;
                    }
                    if (System.nanoTime() - deadline > 0) {
                        return false;
                    }
                    LockSupport.parkNanos(this, 1_000_000);
                }
            } finally {
                wakeAt = Long.MAX_VALUE;
                waiter.set(null);
            }
        }

        @TearDown(Level.Iteration)
        public void drain() {
            if (!awaitCompleted(submitted, System.nanoTime() + TimeUnit.SECONDS.toNanos(30))) {
                throw new IllegalStateException("items still in flight after 30 s: " + (submitted - completed.get()));
            }
        }
    }

    static void submitOne(Executor ex, Producer p) {
        p.acquire();
        ex.impl.submit(p.item);
    }

    @Benchmark
    @Threads(1)
    public void producers1(Executor ex, Producer p) {
        submitOne(ex, p);
    }

    @Benchmark
    @Threads(4)
    public void producers4(Executor ex, Producer p) {
        submitOne(ex, p);
    }
}
