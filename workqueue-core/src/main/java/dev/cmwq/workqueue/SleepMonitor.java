package dev.cmwq.workqueue;

import java.lang.invoke.VarHandle;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadInfo;
import java.lang.management.ThreadMXBean;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Learns when a busy worker of a per-CPU pool sleeps, where the kernel would be told by its
 * scheduler ({@code wq_worker_sleeping} / {@code wq_worker_running}). Like Go's sysmon, one thread
 * samples, cheapest check first:
 * <ol>
 *   <li>{@link Thread#getState()}: BLOCKED, WAITING or TIMED_WAITING is sleeping;</li>
 *   <li>for a RUNNABLE worker, its CPU time ({@link ThreadMXBean#getThreadCpuTime}): if it moved
 *       since the last sample, the worker runs;</li>
 *   <li>if it did not move: a thread blocked in a socket, file or JDBC read is RUNNABLE to Java
 *       but inside a native call ({@link java.lang.management.ThreadInfo#isInNative()}); one that
 *       waits for a garbage collection or a safepoint is in the VM, not in native, and is not
 *       sleeping (it runs again as soon as the pause ends). For a thread in native, its real
 *       state from {@code /proc/self/task/<tid>/stat} decides: {@code S} or {@code D} is
 *       sleeping, {@code R} is runnable but preempted, which is not. A reading taken while a
 *       garbage collection completed is discarded as well. Without procfs, a worker in native
 *       whose CPU time stands still for {@link #STILL_SAMPLES} samples is taken as sleeping.</li>
 * </ol>
 * A worker found sleeping gets the pool's sleeping transition (its pool may then wake an idle
 * worker); the monitor then re-checks it with a growing interval (up to {@code 16 x interval}) and
 * gives back the running transition once it is RUNNABLE and consuming CPU again. The worker clears
 * the mark itself as soon as it returns to pool code.
 *
 * <p>Only pools with pending items behind a running worker need watching, so the monitor parks when
 * there are none and {@link #poke()} wakes it when an item is queued behind a running worker: an
 * idle engine costs no CPU. With CPU-hog detection on, it also keeps looking (every
 * {@code max(interval, cpu_intensive_thresh / 4)}) while any per-CPU pool has a running worker,
 * between items too; so a worker pokes only at the first item it starts after its pool's running
 * count rose, not at every item of a run ({@code Worker.monitorTold}).
 *
 * <p>The sampling period adapts, as Go's sysmon does. The configured interval is the slowest
 * period; after a poke, and after every round that found a worker asleep while items still
 * waited, the monitor samples again after {@code interval / 16} (at least 20 us), doubling the
 * period after each round that found nothing. A pool whose items each sleep briefly (a worker
 * starts an item, it sleeps within microseconds, the next one should start) thus starts one item
 * per fast round instead of one per interval, while a pool whose running worker really runs
 * costs no more than before.
 *
 * <h2>Fields</h2>
 * {@code parked} is volatile: set by the monitor before its final re-check and park, cleared by
 * {@link #poke()} (Dekker-style with the pools' volatile {@code nrPending}/{@code nrRunning}, so
 * a poke is never lost). {@code poked} is volatile, set by a poke that woke the monitor and
 * cleared by the monitor (it only resets the period; a lost one costs a slower round). The sample counters, and {@code parkSeq} and {@code parkForGood} (what tests read to tell a park for good), have one writer, the monitor thread, and are volatile. Everything else
 * is confined to the monitor thread.
 */
final class SleepMonitor extends EngineDaemon {
    private static final Logger log = LoggerFactory.getLogger(SleepMonitor.class);

    /** Samples of standing-still CPU time taken as sleeping where procfs is not available. */
    static final int STILL_SAMPLES = 3;
    static final int MAX_BACKOFF_FACTOR = 16;
    static final long FAST_FLOOR_NANOS = 20_000;

    private final Workqueues engine;
    private final long intervalNanos;
    /** The fastest sampling period: {@code interval / 16}, at least 20 us (at most the interval). */
    private final long fastNanos;
    /** The current sampling period, {@code fastNanos .. intervalNanos}; monitor thread only. */
    private long periodNanos;
    private volatile boolean poked;
    private final long hogThresholdNanos;
    private final ConcurrentHashMap<String, AtomicLong> hogCounts =
            new ConcurrentHashMap<>();
    /** The kernel's {@code wq_cpu_intensive_warning_thresh}. */
    static final int HOG_WARNING_THRESH = 4;
    private final ThreadMXBean threads;
    private final boolean cpuTime;
    private final List<GarbageCollectorMXBean> gcs;
    private final ByteBuffer buf = ByteBuffer.allocate(1024);
    /** Package-private for tests: true while the monitor parks (or is about to) and nobody poked it. */
    volatile boolean parked;
    /**
     * For tests: bumped each time the monitor sets {@link #parked} (one park, timed or not), and
     * whether that park is without a timeout. A test that reads {@code parkSeq}, then
     * {@code parkForGood} and {@code parked}, then the thread's state, then {@code parked} and
     * {@code parkSeq} again, and sees the same park, still not poked, in {@code WAITING}, knows the
     * monitor is parked for good: a poked monitor that runs again starts a new park.
     */
    volatile long parkSeq;
    volatile boolean parkForGood;

    volatile long rounds;
    volatile long sleepsDetected;
    volatile long wakesDetected;
    volatile long procReads;
    volatile long nativeChecks;
    volatile long gcDiscards;
    volatile long hogsDetected;

    SleepMonitor(Workqueues engine, long intervalNanos, long hogThresholdNanos) {
        this.engine = engine;
        this.intervalNanos = intervalNanos;
        this.fastNanos = Math.min(intervalNanos, Math.max(intervalNanos / 16, FAST_FLOOR_NANOS));
        this.periodNanos = fastNanos;
        this.hogThresholdNanos = hogThresholdNanos;
        this.threads = ManagementFactory.getThreadMXBean();
        boolean ct = threads.isThreadCpuTimeSupported();
        if (ct && !threads.isThreadCpuTimeEnabled()) {
            try {
                threads.setThreadCpuTimeEnabled(true);
            } catch (RuntimeException e) {
                ct = false;
            }
        }
        this.cpuTime = ct;
        this.gcs = ManagementFactory.getGarbageCollectorMXBeans();
        if (!ct) {
            log.info("workqueue: thread CPU time is not available; sleeping workers are detected only by Thread.getState()");
        } else if (!ProcStat.AVAILABLE) {
            log.info("workqueue: /proc is not available; a RUNNABLE worker is taken as sleeping after {} samples without CPU progress", STILL_SAMPLES);
        }
    }

    @Override
    boolean enabled() {
        return intervalNanos > 0;
    }

    /** CPU-hog detection ({@code cpu_intensive_thresh}) is on: busy workers are sampled even with nothing pending. */
    boolean watchesHogs() {
        return intervalNanos > 0 && hogThresholdNanos > 0 && cpuTime;
    }

    /** An item waits behind a running worker of a per-CPU pool: make sure the monitor is sampling. */
    void poke() {
        // The callers' stores (nrPending, execSeq) are release stores: this fence orders them before
        // the read of 'parked', the Dekker pair with the monitor's park and re-check.
        VarHandle.fullFence();
        if (parked) {
            parked = false;
            poked = true;
            Thread t = thread();
            if (t != null) {
                LockSupport.unpark(t);
            }
        }
    }

    @Override
    public void run() {
        while (!stopped()) {
            if (poked) {
                poked = false;
                periodNanos = fastNanos; // something new to watch: look closely for a while
            }
            long now = System.nanoTime();
            long detected = sleepsDetected;
            long next = round(now);
            rounds++;
            // A sleeper found while items waited: the next one may sleep as quickly. Else slow down.
            if (sleepsDetected != detected) {
                periodNanos = fastNanos;
                next = Math.min(next, now + fastNanos);
            } else {
                periodNanos = Math.min(periodNanos * 2, intervalNanos);
            }
            if (next == Long.MAX_VALUE || next - now > periodNanos) {
                parkSeq++; // (the monitor thread is the only writer)
                parkForGood = next == Long.MAX_VALUE;
                parked = true;
                if (next == Long.MAX_VALUE && (anyPendingBehindRunning() || (watchesHogs() && anyCountedBusy()))) { // re-check after publishing 'parked'
                    parked = false;
                    continue;
                }
                if (next == Long.MAX_VALUE) {
                    LockSupport.park(this);
                } else {
                    LockSupport.parkNanos(this, next - now);
                }
                parked = false;
            } else {
                LockSupport.parkNanos(this, Math.max(0, next - now));
            }
        }
    }

    /**
     * A per-CPU pool has a counted worker running (between items too): the hog watch must not park
     * for good, since a worker pokes only at the first item after its pool's count rose (see
     * {@code Worker.monitorTold}).
     */
    private boolean anyCountedBusy() {
        for (WorkerPool pool : engine.cpuPools) {
            if (pool.nrRunning > 0) {
                return true;
            }
        }
        return false;
    }

    private boolean anyPendingBehindRunning() {
        for (WorkerPool pool : engine.cpuPools) {
            if (pool.nrPending > 0 && pool.nrRunning > 0) {
                return true;
            }
        }
        return false;
    }

    /** One pass over the per-CPU pools; returns when the next pass is needed (MAX_VALUE: never). */
    private long round(long now) {
        long next = Long.MAX_VALUE;
        boolean hogs = watchesHogs();
        long hogPeriod = Math.max(intervalNanos, hogThresholdNanos / 4);
        for (WorkerPool pool : engine.cpuPools) {
            boolean watch = pool.nrPending > 0 && pool.nrRunning > 0;
            for (Worker w : pool.workers) {
                long seq = w.execSeq;
                if ((seq & 1) == 0) {
                    continue; // not executing a work function
                }
                int sleeping = w.sleeping;
                if (sleeping == Worker.SLEEP_HOOK || w.notRunning) {
                    continue;
                }
                if (w.monSeq != seq) { // a new execution: forget the previous baselines
                    w.monSeq = seq;
                    w.monCpu = -1;
                    w.monStill = 0;
                    w.monHogBase = -1;
                    w.monWakeups = w.wakeups;
                }
                if (sleeping == Worker.SLEEP_SAMPLED) {
                    next = Math.min(next, checkWake(w, seq, now));
                    continue;
                }
                if (watch) {
                    checkSleep(w, seq, now);
                    next = Math.min(next, now + periodNanos);
                }
                if (hogs && w.sleeping == Worker.AWAKE) {
                    checkHog(w, seq);
                    next = Math.min(next, now + hogPeriod);
                }
            }
            if (watch) {
                next = Math.min(next, now + periodNanos);
            }
            if (hogs && pool.nrRunning > 0) {
                next = Math.min(next, now + hogPeriod); // a counted worker between items: look again
            }
        }
        return next;
    }

    /**
     * {@code wq_worker_tick()}: a counted worker that has used more than {@code cpu_intensive_thresh}
     * of CPU since its item started or it last woke stops counting toward concurrency (so its pool
     * may start other items) and is reported per function, backing off as the kernel does.
     */
    private void checkHog(Worker w, long seq) {
        if (w.thread.getState() != Thread.State.RUNNABLE) {
            w.monHogBase = -1; // off CPU: the clock restarts when it runs again
            return;
        }
        long cpu = cpuTime(w.thread);
        if (cpu < 0) {
            return;
        }
        int wakeups = w.wakeups;
        if (w.monHogBase < 0 || wakeups != w.monWakeups) {
            w.monHogBase = cpu;
            w.monWakeups = wakeups;
            return;
        }
        if (cpu - w.monHogBase < hogThresholdNanos) {
            return;
        }
        String function = null;
        WorkerPool pool = w.pool;
        pool.lock.lock();
        try {
            if (w.execSeq == seq && w.sleeping == Worker.AWAKE && !w.notRunning && w.currentWork() != null) {
                w.setFlagsLocked(Worker.CPU_INTENSIVE);
                PoolWorkqueue pwq = w.currentPwq();
                pwq.stats[PoolWorkqueue.STAT_CPU_INTENSIVE]++;
                if (pool.kickLocked()) {
                    pwq.stats[PoolWorkqueue.STAT_CM_WAKEUP]++;
                }
                function = w.currentWork().name();
            }
        } finally {
            pool.lock.unlock();
        }
        if (function != null) {
            hogsDetected++;
            reportHog(function);
        }
    }

    /** {@code wq_cpu_intensive_report()}: from the 4th time on, backing off (4, 5, 7, 11, 19, ...). */
    private void reportHog(String function) {
        long cnt = hogCounts.computeIfAbsent(function, f -> new AtomicLong()).incrementAndGet();
        long n = cnt + 1 - HOG_WARNING_THRESH;
        if (cnt >= HOG_WARNING_THRESH && (n & (n - 1)) == 0) {
            log.warn("workqueue: {} hogged CPU for >{}us {} times, consider switching to WQ_UNBOUND", function,
                    hogThresholdNanos / 1000, cnt);
        }
    }

    /** Times each function was found hogging the CPU. */
    Map<String, Long> hogCounts() {
        Map<String, Long> m = new TreeMap<>();
        hogCounts.forEach((k, v) -> m.put(k, v.get()));
        return m;
    }

    private void checkSleep(Worker w, long seq, long now) {
        Thread t = w.thread;
        boolean asleep;
        switch (t.getState()) {
            case BLOCKED, WAITING, TIMED_WAITING -> asleep = true;
            case RUNNABLE -> asleep = runnableButAsleep(w, t);
            default -> asleep = false;
        }
        if (!asleep) {
            return;
        }
        long cpu = cpuTime(t);
        boolean marked;
        w.pool.lock.lock();
        try {
            marked = w.execSeq == seq && w.sleepingLocked(Worker.SLEEP_SAMPLED);
        } finally {
            w.pool.lock.unlock();
        }
        if (marked) {
            sleepsDetected++;
            w.monCpu = cpu;
            w.monBackoff = intervalNanos;
            w.monNextCheck = now + intervalNanos;
        }
    }

    private boolean runnableButAsleep(Worker w, Thread t) {
        long cpu = cpuTime(t);
        long prev = w.monCpu;
        w.monCpu = cpu;
        if (cpu < 0 || prev < 0 || cpu != prev) {
            w.monStill = 0;
            return false; // on CPU since the last sample (or no baseline yet)
        }
        ThreadInfo info = threads.getThreadInfo(t.threadId(), 0);
        nativeChecks++;
        if (info == null || !info.isInNative()) {
            return false; // runnable Java or VM code: preempted, or held for a GC or safepoint
        }
        long tid = w.tid;
        if (tid > 0) {
            long gc = gcCount();
            char state = ProcStat.state(tid, buf);
            procReads++;
            if (state != 'S' && state != 'D') {
                return false; // 'R': runnable, waiting for a CPU
            }
            if (gcCount() != gc) {
                gcDiscards++;
                return false; // may have been held at a GC safepoint
            }
            return true;
        }
        return ++w.monStill >= STILL_SAMPLES;
    }

    /** A worker marked sleeping by sampling: has it woken? Returns its next check time. */
    private long checkWake(Worker w, long seq, long now) {
        if (now - w.monNextCheck < 0) {
            return w.monNextCheck;
        }
        Thread t = w.thread;
        if (t.getState() == Thread.State.RUNNABLE) {
            long cpu = cpuTime(t);
            long prev = w.monCpu;
            w.monCpu = cpu;
            if (cpu >= 0 && prev >= 0 && cpu != prev) {
                boolean woke;
                w.pool.lock.lock();
                try {
                    woke = w.execSeq == seq && w.sleeping == Worker.SLEEP_SAMPLED;
                    if (woke) {
                        w.runningLocked();
                    }
                } finally {
                    w.pool.lock.unlock();
                }
                if (woke) {
                    wakesDetected++;
                    w.monHogBase = cpu; // the kernel restarts current_at on wakeup
                }
                w.monStill = 0;
                return now + intervalNanos;
            }
        }
        w.monBackoff = Math.min(w.monBackoff * 2, intervalNanos * MAX_BACKOFF_FACTOR);
        w.monNextCheck = now + w.monBackoff;
        return w.monNextCheck;
    }

    private long cpuTime(Thread t) {
        return cpuTime ? threads.getThreadCpuTime(t.threadId()) : -1;
    }

    private long gcCount() {
        long n = 0;
        for (GarbageCollectorMXBean gc : gcs) {
            n += gc.getCollectionCount();
        }
        return n;
    }
}
