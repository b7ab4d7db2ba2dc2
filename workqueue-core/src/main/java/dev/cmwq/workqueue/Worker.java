package dev.cmwq.workqueue;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.locks.LockSupport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A worker thread of a {@link WorkerPool}, the kernel's {@code worker}; {@link #run()} is
 * {@code worker_thread()} and {@link #processOneWork} is {@code process_one_work()}.
 *
 * <h2>Running and sleeping</h2>
 * A worker counts toward its pool's {@code nrRunning} while none of the {@link #NOT_RUNNING} flags
 * is set and it is not marked sleeping. The kernel's scheduler tells the pool the instant a worker
 * sleeps ({@code wq_worker_sleeping}) or wakes ({@code wq_worker_running}); on the JVM the same
 * transitions come from {@link Workqueues#blocking} (exact) and from the {@link SleepMonitor}
 * (sampled). Whenever the worker itself re-enters pool code it is running by definition, so it
 * clears any sleeping mark first ({@link #runningLocked()}).
 *
 * <h2>Fields</h2>
 * Guarded by {@code pool.lock}: {@code flags}, {@code woken}, {@code lastActive}, the idle links,
 * {@code scheduled}, {@code current} (and its fields), {@code currentRuns}, {@code monitorTold}.
 * {@code sleeping} is written under the lock and volatile for the monitor's unlocked pre-checks.
 * {@code execSeq} is volatile (written with release stores; {@link SleepMonitor#poke()} has the
 * fence its Dekker pair needs): odd while a work function runs, bumped by the worker itself before
 * and after each call, so the monitor can tell one execution from the next without the lock. The
 * {@code mon*} fields belong to the monitor thread alone.
 */
final class Worker implements Runnable {
    private static final Logger log = LoggerFactory.getLogger(Worker.class);

    static final int DIE = 1 << 1;
    static final int IDLE = 1 << 2;
    static final int PREP = 1 << 3;
    static final int CPU_INTENSIVE = 1 << 6;
    static final int UNBOUND = 1 << 7;
    /** A MEM_RECLAIM queue's rescuer, attached to a pool for one rescue pass. */
    static final int RESCUER = 1 << 8;
    static final int NOT_RUNNING = PREP | CPU_INTENSIVE | UNBOUND;

    /** Values of {@link #sleeping}. */
    static final int AWAKE = 0;
    static final int SLEEP_SAMPLED = 1;
    static final int SLEEP_HOOK = 2;

    static final ThreadLocal<Worker> CURRENT = new ThreadLocal<>();
    private static final VarHandle EXEC_SEQ;

    static {
        try {
            EXEC_SEQ = MethodHandles.lookup().findVarHandle(Worker.class, "execSeq", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    final WorkerPool pool;
    final int id;
    volatile Thread thread;

    int flags = PREP;
    /** Mirror of {@code (flags & NOT_RUNNING) != 0} for the monitor's unlocked pre-checks. */
    volatile boolean notRunning = true;
    boolean woken;
    /** Woken while on the idle list, and counted in the pool's {@code nrWokenIdle} until it leaves it. */
    boolean wokenWhileIdle;
    long lastActive;
    Worker idlePrev;
    Worker idleNext;
    final WorkList scheduled;
    /**
     * The kernel's {@code current_work} and {@code current_pwq}, in a small holder that the worker
     * replaces with a fresh one every {@link WorkerPool#YOUNG_HOLDER_RUNS} items (under the pool
     * lock, between items), so that it stays in G1's young generation: storing a young item into
     * a tenured object costs a write barrier with a full fence, into a young one nothing (see
     * {@link WorkerPool#YOUNG_HOLDER_RUNS}). Read through {@link #currentWork()} and
     * {@link #currentPwq()}; guarded by the pool lock (the worker's own thread reads it freely).
     */
    private Current current = new Current();
    /** Items since {@link #current} was last replaced; pool lock. */
    private int currentRuns;

    /** {@link #current}'s holder: the item being executed and its pool workqueue, or nulls. */
    private static final class Current {
        Work work;
        PoolWorkqueue pwq;
    }

    /** The item this worker executes ({@code current_work}), or null; pool lock or own thread. */
    Work currentWork() {
        return current.work;
    }

    /** That item's pool workqueue ({@code current_pwq}), or null; pool lock or own thread. */
    PoolWorkqueue currentPwq() {
        return current.pwq;
    }
    volatile int sleeping = AWAKE;
    /** Depth of nested blocking hooks; only the worker's own thread touches it. */
    int hookDepth;
    volatile long execSeq;
    /**
     * The sleep monitor was told (poked, or found no need) since this worker last became counted
     * in its pool's {@code nrRunning}; guarded by the pool lock. Every rise of the count clears it,
     * so the next item this worker starts tells the monitor (see
     * {@link #processOneWorkLocked}); the items after it in the same run do not need to.
     */
    private boolean monitorTold;
    /** Bumped under the pool lock at each sleeping -> running transition; read by the monitor. */
    volatile int wakeups;
    /** Linux thread id (for /proc), or -1; set by the thread itself at start. */
    volatile long tid = -1;
    /** The workqueue whose name is in the thread name ({@code kworker/0:1-events}); worker thread only. */
    private Workqueue namedFor;
    /**
     * CPU accounting without two clock reads per item (the thread CPU clock is a system call, about
     * 0.7 us on a VM): {@code cpuMark} is this thread's CPU time at the last read (-1: none yet),
     * {@code cpuCharged} what items were charged since. An item shorter than
     * {@link #CPU_READ_THRESHOLD_NANOS} is charged its run time; a longer one reads the clock and is
     * charged the CPU used since the mark minus what the short ones got, so the sum over all items
     * equals the thread's CPU time at every read. Untimed items (a sampled backlog of short ones,
     * see {@link PoolWorkqueue#enterLocked}) are charged through the timed one that stands for
     * them. Confined to the worker's thread.
     */
    private long cpuMark = -1;
    private long cpuCharged;
    static final long CPU_READ_THRESHOLD_NANOS = 100_000;
    /**
     * The time the previous item of this run of items ended (0 if the worker came from idle, or
     * the previous item was not timed):
     * the next item taken straight after it starts "now" as far as the statistics go, so a busy
     * worker reads the clock once per item, not twice (a clock read is about 30 ns on these VMs,
     * a third of a tiny item's whole cost). The next item's recorded start is therefore early by
     * the pool-lock acquisition between the two (sub-microsecond unless the lock was contended),
     * and its queue latency is clamped at 0. Confined to the worker's thread.
     */
    private long chainNanos;
    /** When the last run of items ended (0: none ran), for the idle time; worker thread only. */
    private long idleSince;
    /** Set when a work function threw an Error: the worker is replaced after this item. */
    private boolean replace;

    // Monitor-private sampling state.
    long monSeq = -1;
    long monCpu = -1;
    long monNextCheck;
    long monBackoff;
    int monStill;
    long monHogBase = -1;
    int monWakeups;

    Worker(WorkerPool pool, int id) {
        this.pool = pool;
        this.id = id;
        this.scheduled = new WorkList(pool, WorkList.Kind.SCHEDULED);
        if (pool.isUnbound()) {
            flags |= UNBOUND;
        }
    }

    /** A rescuer attached to {@code pool} on its own thread (PREP: never counted as running). */
    static Worker rescuer(WorkerPool pool, Thread thread) {
        Worker r = new Worker(pool, -1);
        r.flags |= RESCUER;
        r.thread = thread;
        return r;
    }

    boolean isRescuer() {
        return (flags & RESCUER) != 0;
    }

    // ---- flags; pool lock held, called by the worker itself (which is running) -------------

    void setFlagsLocked(int f) {
        if ((f & NOT_RUNNING) != 0 && (flags & NOT_RUNNING) == 0) {
            pool.nrRunning--;
        }
        flags |= f;
        mirrorNotRunning();
    }

    void clrFlagsLocked(int f) {
        int old = flags;
        flags &= ~f;
        if ((f & NOT_RUNNING) != 0 && (old & NOT_RUNNING) != 0 && (flags & NOT_RUNNING) == 0) {
            pool.nrRunning++;
            monitorTold = false;
        }
        mirrorNotRunning();
    }

    /** Updates {@code notRunning} only when it changes (a volatile store per item costs a fence). */
    private void mirrorNotRunning() {
        boolean nr = (flags & NOT_RUNNING) != 0;
        if (nr != notRunning) {
            notRunning = nr;
        }
    }

    /** Wakes this idle worker (the kernel's {@code wake_up_process} from {@code kick_pool}). */
    void wakeLocked() {
        if (!woken) {
            woken = true;
            if ((flags & IDLE) != 0) {
                wokenWhileIdle = true;
                pool.nrWokenIdle++;
                pool.publishBusyLocked();
            }
            Thread t = thread;
            if (t != null) {
                LockSupport.unpark(t);
            }
        }
    }

    // ---- sleeping and running: wq_worker_sleeping / wq_worker_running -----------------------

    /**
     * {@code wq_worker_sleeping()}, pool lock held: the worker is blocked in its work function.
     *
     * @return true if the mark was set (the worker counted as running until now)
     */
    boolean sleepingLocked(int how) {
        if ((flags & NOT_RUNNING) != 0 || sleeping != AWAKE || current.work == null) {
            return false;
        }
        sleeping = how;
        pool.nrRunning--;
        if (pool.needMoreWorker()) {
            current.pwq.stats[PoolWorkqueue.STAT_CM_WAKEUP]++;
            pool.kickLocked();
        }
        return true;
    }

    /** {@code wq_worker_running()}, pool lock held: the worker is running again. */
    void runningLocked() {
        if (sleeping != AWAKE) {
            sleeping = AWAKE;
            wakeups++; // the CPU-hog clock restarts at each wakeup, as the kernel's current_at
            if ((flags & NOT_RUNNING) == 0) {
                pool.nrRunning++;
                monitorTold = false;
                pool.watchLocked();
                if (current.work != null && pool.engine.monitor.watchesHogs()) {
                    pool.engine.monitor.poke();
                }
            }
        }
    }

    /** Start of an explicit blocking section, on the worker's own thread inside a work function. */
    void beginBlocking() {
        if (hookDepth++ > 0) {
            return;
        }
        pool.lock.lock();
        try {
            if (sleeping == SLEEP_SAMPLED) {
                sleeping = SLEEP_HOOK; // already counted as sleeping; the hook owns the mark now
            } else {
                sleepingLocked(SLEEP_HOOK);
            }
        } finally {
            pool.lock.unlock();
        }
    }

    void endBlocking() {
        if (hookDepth == 0 || --hookDepth > 0) {
            return;
        }
        pool.lock.lock();
        try {
            runningLocked();
        } finally {
            pool.lock.unlock();
        }
    }

    // ---- worker_thread() --------------------------------------------------------------------

    @Override
    public void run() {
        CURRENT.set(this);
        tid = ProcStat.currentTid();
        pool.placeCurrentThread();
        WorkerPool.PoolLock lock = pool.lock;
        lock.lock();
        try {
            while ((flags & DIE) == 0) {
                pool.leaveIdleLocked(this);
                workLocked();
                if (replace || (flags & DIE) != 0) {
                    break;
                }
                pool.enterIdleLocked(this, idleSince != 0 ? idleSince : System.nanoTime());
                idleLocked();
            }
            pool.leaveIdleLocked(this);
            pool.removeWorkerLocked(this);
            pool.kickLocked(); // it may have counted as looking for items still pending
        } finally {
            lock.unlock();
            CURRENT.remove();
            pool.engine.workerExited(this);
        }
        if (replace) {
            pool.engine.replaceWorker(pool);
        }
    }

    /** The body of {@code worker_thread()} between leaving and re-entering idle; lock held. */
    private void workLocked() {
        idleSince = 0;
        for (;;) { // recheck:
            if ((flags & DIE) != 0 || !pool.needMoreWorker()) {
                return;
            }
            if (!pool.mayStartWorking() && pool.manageWorkersLocked()) {
                continue;
            }
            clrFlagsLocked(PREP);
            chainNanos = 0;
            do {
                Work w = pool.worklist.first();
                // Onto an empty scheduled list, assign_work() and process_scheduled_works() run in
                // one hold of the lock: nobody could see the item on the list in between, so it
                // goes from the worklist straight to execution (two list operations fewer per item).
                boolean direct = scheduled.isEmpty();
                if (assignWorkLocked(w, direct)) {
                    if (direct) {
                        processOneWorkLocked(w);
                    }
                    processScheduledWorksLocked(); // (after a direct one: items passed on meanwhile)
                }
            } while (pool.keepWorking() && !replace && (flags & DIE) == 0);
            idleSince = chainNanos; // the last item's end: if the worker now idles, it idles since then
            chainNanos = 0;
            setFlagsLocked(PREP);
            return;
        }
    }

    /**
     * {@code assign_work()}: moves {@code w} to this worker's scheduled list, or, if another worker
     * of the pool is executing it, to that worker's list so the item never runs concurrently.
     */
    boolean assignWorkLocked(Work w) {
        return assignWorkLocked(w, false);
    }

    /**
     * {@link #assignWorkLocked(Work)}; with {@code direct}, an item that is this worker's to run is
     * left off its scheduled list, for the caller to process at once.
     */
    private boolean assignWorkLocked(Work w, boolean direct) {
        pool.removeWorkLocked(w);
        Worker collision = pool.findWorkerExecutingLocked(w);
        if (collision != null) {
            collision.scheduled.addLast(w);
            return false;
        }
        if (!direct) {
            scheduled.addLast(w);
        }
        return true;
    }

    void processScheduledWorksLocked() {
        Work w;
        while ((w = scheduled.first()) != null) {
            scheduled.remove(w);
            processOneWorkLocked(w);
        }
    }

    /**
     * {@code process_one_work()} for {@code w}, already off every list: lock held on entry and
     * exit, dropped while the function runs.
     */
    private void processOneWorkLocked(Work w) {
        PoolWorkqueue pwq = w.pwq;
        Workqueue wq = pwq.wq;
        Current cur = current;
        cur.work = w;
        cur.pwq = pwq;
        int gen = w.queuedGen; // every queueing so far is served by this execution
        w.startedByLocked(this, gen);
        // The flush color this execution was queued with: once PENDING is cleared the item may be
        // queued again, which overwrites w.color (the kernel saves work data the same way).
        int color = w.color;
        pwq.stats[PoolWorkqueue.STAT_STARTED]++;
        if ((flags & RESCUER) != 0) {
            pwq.stats[PoolWorkqueue.STAT_RESCUED]++;
        }
        if (wq.cpuIntensive) {
            setFlagsLocked(CPU_INTENSIVE);
        }
        boolean counted = pool.isUnbound() && (flags & RESCUER) == 0;
        if (counted) {
            pool.executing(1); // before the kick: this worker no longer looks at the worklist
        }
        // The monitor needs telling only when this worker's pool's nrRunning has risen since the
        // worker last told it (the first item of a run of items, or the first after the worker
        // slept or ran a CPU-intensive item): while nrRunning stays above 0 the monitor does not
        // park for good (SleepMonitor), so the items after that need no poke and no fence.
        boolean tell = !monitorTold;
        monitorTold = true;
        // Told below, after execSeq is published, when the monitor watches for CPU hogs: that
        // poke (a full fence) also serves the watch for pending items behind this worker.
        boolean hogWatch = tell && (flags & NOT_RUNNING) == 0 && pool.engine.monitor.watchesHogs();
        // Chains execution for NOT_RUNNING workers (unbound, CPU-intensive); a no-op for a per-CPU
        // pool whose nr_running is at least 1 here, where the monitor may have to watch instead.
        if (!pool.kickLocked() && tell && !hogWatch) {
            pool.watchLocked();
        }
        // Read before PENDING is cleared, as the color: a queueing after that overwrites them.
        int timing = w.timing; // how many items this one's timings count for; 0: not timed
        long queuedAt = w.queuedAt;
        w.clearPending();
        pool.startedLocked();
        long startNanos = 0;
        if (timing != 0) {
            startNanos = chainNanos != 0 ? chainNanos : System.nanoTime();
            pool.setWatchdogTs(startNanos);
            pwq.queueLatency.record(Math.max(0, startNanos - queuedAt), timing);
        }
        pool.lock.unlock();
        TestHooks.beforeExecute(w, hogWatch);

        if (wq != namedFor && (flags & RESCUER) == 0) {
            namedFor = wq;
            thread.setName(pool.workerName(id) + "-" + wq.name());
        }
        Throwable failure = null;
        boolean cpuAccounting = pool.engine.cpuAccounting;
        if (cpuAccounting && cpuMark < 0) {
            cpuMark = CpuClock.currentThreadCpuTime(); // once per worker (and per rescue)
        }
        TraceEvents.executeStart(w, wq);
        EXEC_SEQ.setRelease(this, execSeq + 1); // odd: executing (a release store: see poke())
        if (hogWatch) {
            pool.engine.monitor.poke(); // after publishing execSeq: Dekker with the monitor's parked
        }
        try {
            w.run();
        } catch (Throwable t) {
            failure = t;
        }
        EXEC_SEQ.setRelease(this, execSeq + 1); // even: back in pool code (a wait for the lock is not sleep)
        if (counted) {
            pool.executing(-1); // looking again: items queued from now on are ours to take
        }
        long endNanos = 0;
        long cpuUsed = 0;
        if (timing != 0) {
            endNanos = System.nanoTime();
            cpuUsed = cpuAccounting ? cpuUsed(endNanos - startNanos, timing) : 0;
        }
        chainNanos = endNanos; // 0 after an untimed item: the next timed one reads the clock
        TraceEvents.executeEnd(w, wq);
        Thread.interrupted(); // an interrupt meant for the item must not leak into the next one
        TestHooks.afterExecute(w);
        if (failure != null) {
            reportFailure(w, wq, failure);
        }

        pool.lock.lock();
        // Again under the lock: an executor view's shutdownNow() interrupts the worker under this
        // lock while currentWork() is the item (WorkerPool.interruptRunning), so one may have landed
        // since the clear above; none can land after this one, as currentWork() is cleared below
        // in this same hold of the lock. (A worker must not park, nor run its next item, interrupted.)
        Thread.interrupted();
        if (timing != 0) {
            pwq.runTime.record(endNanos - startNanos, timing);
            pwq.lastRunNanos = endNanos - startNanos;
            pwq.stats[PoolWorkqueue.STAT_CPU_TIME] += cpuUsed;
        }
        runningLocked();
        hookDepth = 0;
        clrFlagsLocked(CPU_INTENSIVE);
        w.finishedByLocked(this); // (another run on another workqueue may have started since)
        cur.work = null; // the holder of this item's start: replaced only here
        cur.pwq = null;
        if (++currentRuns >= WorkerPool.YOUNG_HOLDER_RUNS) {
            currentRuns = 0;
            current = new Current(); // a young holder again (see the field)
        }
        if (failure != null) {
            pwq.stats[PoolWorkqueue.STAT_FAILED]++;
            if (failure instanceof Error && (flags & RESCUER) == 0) {
                replace = true;
            }
        } else {
            pwq.stats[PoolWorkqueue.STAT_COMPLETED]++;
        }
        w.markDone(gen);
        pwq.completedLocked(color);
        w.wakeFlushers();
    }

    /**
     * The CPU time to charge a timed item that ran {@code wallNanos} and counts for {@code items}
     * (see {@code cpuMark}): a short one is charged its run time for each item it stands for; the
     * next long one's clock read settles the difference with what the untimed ones really used.
     */
    private long cpuUsed(long wallNanos, int items) {
        if (wallNanos < CPU_READ_THRESHOLD_NANOS) {
            long charged = wallNanos * items;
            cpuCharged += charged;
            return charged;
        }
        long now = CpuClock.currentThreadCpuTime();
        long used = Math.max(0, now - cpuMark - cpuCharged);
        cpuMark = now;
        cpuCharged = 0;
        return used;
    }

    private void reportFailure(Work w, Workqueue wq, Throwable t) {
        if (t instanceof Error) {
            log.error("workqueue: work item '{}' on workqueue '{}' threw {}; replacing worker {}",
                    w.name(), wq.name(), t, pool.workerName(id), t);
        } else {
            log.error("workqueue: work item '{}' on workqueue '{}' failed", w.name(), wq.name(), t);
        }
    }

    /**
     * Idle: parks until kicked or told to die. The worker idle longest (the tail of the LIFO list)
     * reaps itself once its idle time passes the timeout while the pool has too many workers (the
     * kernel's {@code idle_worker_timeout}). Lock held on entry and exit.
     */
    private void idleLocked() {
        WorkerPool.PoolLock lock = pool.lock;
        long timeout = pool.engine.idleTimeoutNanos;
        long now = lastActive; // just set by enterIdleLocked: the first round needs no clock read
        for (;;) {
            if (woken) {
                woken = false;
                return;
            }
            if ((flags & DIE) != 0) {
                return;
            }
            long expires = lastActive + timeout;
            if (now - expires >= 0) {
                if (pool.idleLast == this && pool.tooManyWorkers()) {
                    flags |= DIE;
                    return;
                }
                expires = now + timeout;
            }
            lock.unlock();
            try {
                LockSupport.parkNanos(this, expires - now);
            } finally {
                lock.lock();
            }
            now = System.nanoTime();
        }
    }

    String name() {
        return pool.workerName(id);
    }

    @Override
    public String toString() {
        Thread t = thread;
        return t != null ? t.getName() : name();
    }
}
