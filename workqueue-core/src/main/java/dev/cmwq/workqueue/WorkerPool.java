package dev.cmwq.workqueue;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.function.BooleanSupplier;
import java.util.function.Predicate;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.AbstractQueuedSynchronizer;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A pool of worker threads shared by every workqueue that maps to it, the kernel's
 * {@code worker_pool}. Per CPU there is a normal and a highpri pool; unbound pools are keyed by
 * their {@link WorkqueueAttrs} and shared by every unbound workqueue with equal attributes.
 *
 * <h2>Concurrency management</h2>
 * Per-CPU pools keep just enough workers running: {@code nrRunning} counts the workers that are
 * executing and not sleeping. A worker takes further items only while no other worker runs
 * ({@link #keepWorking()}: pending items and {@code nrRunning <= 1}); when the last running worker
 * sleeps, the first idle worker is woken at once ({@link #needMoreWorker()}: pending items and
 * {@code nrRunning == 0}). A worker that starts working with no idle worker left becomes the
 * manager and creates one ({@link #mayStartWorking()}), so one idle worker is always in reserve.
 * Idle workers are kept LIFO and the one idle longest is reaped after the idle timeout while there
 * are too many ({@link #tooManyWorkers()}). Workers of unbound pools carry the UNBOUND flag, which
 * keeps them out of {@code nrRunning}: an idle worker is woken while items are pending and no
 * other worker is about to look at them ({@link #lookingLocked()}), so unbound pools run as many
 * items at once as the workqueues' {@code max_active} let through.
 *
 * <p>"Sleeping" is learnt from the explicit {@link Workqueues#blocking} hooks and from the
 * {@link SleepMonitor}, which samples busy workers; see {@link Worker}.
 *
 * <h2>Locking</h2>
 * {@code lock} (the kernel's {@code pool->lock}) guards the worklist, the idle list, every
 * worker's flags, current item and scheduled list, and all fields of the pool's
 * {@link PoolWorkqueue}s, and {@code nrWokenIdle} and {@code drainWaiters}. {@code nrRunning} and
 * {@code nrPending} are written under the lock and are volatile so that the monitor may read them
 * without it. {@code nrExecuting} is atomic (see its comment); {@code intake} is the lock-free
 * stack below. {@code workers} is copy-on-write for lock-free iteration by the monitor. The lock
 * is never held while a work function runs, while a thread is created, or while another pool's
 * lock is taken.
 *
 * <h2>The intake</h2>
 * Queueing does not need the lock: {@link Workqueue#queue} pushes the item on {@code intake}, a
 * lock-free stack (Treiber; linked through {@link Work#next}, which an item on no list does not
 * use), and the thread that holds the lock moves it to its pool workqueue, which is
 * {@code __queue_work()}'s locked tail ({@link PoolWorkqueue#insertLocked}). The protocol that
 * makes the lock's holders see every item as if it had been inserted when it was pushed:
 * <ul>
 *   <li>Every acquisition of the lock drains the intake first ({@link PoolLock#lock()}), so
 *       anything that inspects the pool under its lock (flush, cancel, drain, teardown, the
 *       monitor) sees every item pushed before it took the lock.</li>
 *   <li>A producer that pushes onto an empty intake tries the lock and drains if it gets it; if
 *       the lock is held, the holder drains when it lets go: every release re-checks the intake
 *       after unlocking and drains again while it finds items and gets the lock back
 *       ({@link PoolLock#unlock()}). The push and the re-check are a Dekker pair (CAS, unlock,
 *       volatile read), so no item is left behind with nobody holding the lock. A producer that
 *       pushes onto a non-empty intake does nothing more: the push that made it non-empty is
 *       still to be drained, and the drain takes the whole stack.</li>
 *   <li>Waits inside the lock (the drain waits) release it through {@link PoolLock#unlock()} too,
 *       never through a {@code Condition}.</li>
 *   <li>Who drains. In an unbound pool a producer that pushed onto an empty intake leaves the
 *       drain to a worker when one is looking: {@code nrBusy - nrExecuting > 0}, two volatile
 *       reads after the push. A looking worker (woken, waiting for or holding the lock, or back
 *       from a function) takes or releases the lock next, and both drain. The count can only be
 *       too high by a worker that stopped looking after the producer read it, by going idle
 *       ({@code nrBusy} lowered) or by starting an item ({@code nrExecuting} raised); either
 *       write is followed by that worker's outermost unlock, whose re-check of the intake then
 *       sees the push (Dekker: push, read the count; write the count, read the intake). So an
 *       item never waits behind a running function for its drain. This keeps the producers off
 *       the lock the workers convoy on.</li>
 * </ul>
 * The drain runs the locked tail for each item in push order. What the lock-free push does not
 * check (whether the queue still accepts items, whether its pool workqueue was released) the
 * producer re-checks after the push: see {@link Workqueue}'s queueing. An item whose pool
 * workqueue was released ({@code dead}) meanwhile is not inserted but "bounced": left off every
 * list, PENDING still owned by its producer, which sees {@code dead} and queues it again.
 */
final class WorkerPool {
    private static final Logger log = LoggerFactory.getLogger(WorkerPool.class);

    /** The kernel's {@code MAX_IDLE_WORKERS_RATIO}. */
    static final int MAX_IDLE_WORKERS_RATIO = 4;
    /** The kernel's {@code CREATE_COOLDOWN}: wait after a failed worker creation. */
    static final long CREATE_COOLDOWN_NANOS = TimeUnit.SECONDS.toNanos(1);

    final Workqueues engine;
    final int id;
    /** The CPU of a per-CPU pool, -1 for an unbound pool. */
    final int cpu;
    final boolean highpri;
    /**
     * Resolved attributes: nice and a non-null cpumask (for an unbound pool: the queue's cpumask
     * within the engine's unbound cpumask).
     */
    final WorkqueueAttrs attrs;
    /** The pod this unbound pool serves (the kernel's {@code __pod_cpumask}); {cpu} for a per-CPU pool. */
    final CpuMask podCpumask;
    /** Workers confined to the pod ({@code affn_strict}). */
    final boolean affinityStrict;
    /** What the workers are pinned to: the pod if strict, else the cpumask. */
    final CpuMask workerCpumask;
    /** The key of an unbound pool in the engine's map; null for per-CPU pools. */
    final Object key;
    /**
     * Whether the workers' placement took effect, and the nice they really have: written by worker
     * threads as they place themselves ({@link #placeCurrentThread}), read by snapshots.
     */
    volatile boolean placementEnforced;
    volatile int effectiveNice;
    final PoolLock lock = new PoolLock();
    /**
     * The top of the intake stack (the newest item), or null; pushed by CAS, taken whole by the
     * lock holder ({@link #drainIntakeLocked}).
     */
    @SuppressWarnings("unused") // accessed through INTAKE
    private volatile Work intake;
    private static final VarHandle INTAKE;

    static {
        try {
            INTAKE = MethodHandles.lookup().findVarHandle(WorkerPool.class, "intake", Work.class);
            NR_EXECUTING = MethodHandles.lookup().findVarHandle(WorkerPool.class, "nrExecuting", int.class);
            NR_BUSY = MethodHandles.lookup().findVarHandle(WorkerPool.class, "nrBusy", int.class);
            NR_PENDING = MethodHandles.lookup().findVarHandle(WorkerPool.class, "nrPending", int.class);
            WATCHDOG_TS = MethodHandles.lookup().findVarHandle(WorkerPool.class, "watchdogTs", long.class);
            STARTS = MethodHandles.lookup().findVarHandle(WorkerPool.class, "starts", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /**
     * How often a young holder is renewed: a pool's worklist (when empty) and a worker's
     * {@code current_work} holder are replaced by fresh objects every this many items. A busy
     * engine's long-lived objects are tenured by G1 within seconds, and from then on every store
     * of a young item into one of them (the worklist's head and tail, the worker's current item)
     * costs G1's post-write barrier with a full fence, about 5 ns here; a store into a young
     * object costs none. Renewed this often the holders stay young while items stream, at one
     * small allocation per 4,096 items; an engine that runs few items lets them age, and then
     * their barriers cost nothing that shows. (+10 % for a bound queue's no-op items in
     * {@code docs/benchmarks.md}, "The engine's objects in the old generation (G1)".)
     */
    static final int YOUNG_HOLDER_RUNS = 4096;

    /**
     * The kernel's {@code pool->worklist}; pool lock. Replaced by a fresh empty list (see
     * {@link #YOUNG_HOLDER_RUNS}) only under the lock and only while empty, so no item refers to
     * the old one ({@code Work.list} is cleared on removal) and nobody keeps it across a release
     * of the lock (every use reads the field under the lock).
     */
    WorkList worklist = new WorkList(this, WorkList.Kind.WORKLIST);
    /** Items taken off {@link #worklist} since it was last replaced; pool lock. */
    private int worklistTakes;
    volatile int nrPending;
    volatile int nrRunning;
    int nrWorkers;
    int nrIdle;
    /** Idle workers already woken (they count as looking; see {@link #lookingLocked()}). */
    int nrWokenIdle;
    /**
     * Unbound pools: workers inside a work function (rescuers excepted). Raised under the lock as
     * an item starts, lowered without it as the function returns, so that a worker on its way back
     * to the lock already counts as looking. Atomic (NR_EXECUTING); always 0 in per-CPU pools.
     */
    @SuppressWarnings("unused") // written through NR_EXECUTING
    private volatile int nrExecuting;
    private static final VarHandle NR_EXECUTING;
    /**
     * {@code nrWorkers - nrIdle + nrWokenIdle}, published (volatile store) under the lock at every
     * change of the three, for the producers' lock-free look at whether a worker is looking
     * ({@link #pushIntake}).
     */
    @SuppressWarnings("unused") // written through NR_BUSY
    private volatile int nrBusy;
    private static final VarHandle NR_BUSY;
    private static final VarHandle NR_PENDING;
    private static final VarHandle WATCHDOG_TS;
    /** Head = most recently idle (woken first); tail = idle longest (reaped first). */
    Worker idleFirst;
    Worker idleLast;
    boolean managerActive;
    private final BitSet workerIds = new BitSet();
    /** Threads waiting in {@link #awaitLocked} for items to drain; unparked at each drain. */
    private final List<Thread> drainWaiters = new ArrayList<>(2);
    /** Set when the pool is being torn down: workers exit instead of idling. */
    boolean dying;
    /**
     * The kernel's {@code watchdog_ts}: when the pool last started an item, or when its worklist
     * went from empty to non-empty. Written under the lock; volatile for the watchdog.
     */
    volatile long watchdogTs = System.nanoTime();
    /**
     * Items started in this pool: written under the lock with release stores, read by the watchdog
     * without it. An untimed item ({@code Work.timing} 0, see {@link PoolWorkqueue}) starts without
     * a clock read, so it cannot touch {@code watchdogTs}; the watchdog counts it as progress when
     * it sees this count move ({@code progressSeen}, {@code progressSeenAt}).
     */
    @SuppressWarnings("unused") // accessed through STARTS
    private volatile long starts;
    private static final VarHandle STARTS;
    /** The start count at the watchdog's last check, and when it saw it change; watchdog thread only. */
    long progressSeen;
    volatile long progressSeenAt = System.nanoTime();
    /** When the current stall began, 0 if none; confined to the watchdog thread. */
    long stalledSince;
    /** For unbound pools: the number of pool workqueues using it; guarded by the engine's pools lock. */
    int refcnt;

    final CopyOnWriteArrayList<Worker> workers = new CopyOnWriteArrayList<>();

    WorkerPool(Workqueues engine, int id, int cpu, boolean highpri, WorkqueueAttrs attrs) {
        this(engine, id, cpu, highpri, attrs, attrs.cpumask(), false, null);
    }

    WorkerPool(Workqueues engine, int id, int cpu, boolean highpri, WorkqueueAttrs attrs, CpuMask podCpumask,
               boolean affinityStrict, Object key) {
        this.engine = engine;
        this.id = id;
        this.cpu = cpu;
        this.highpri = highpri;
        this.attrs = attrs;
        this.podCpumask = podCpumask;
        this.affinityStrict = affinityStrict;
        this.workerCpumask = affinityStrict ? podCpumask : attrs.cpumask();
        this.key = key;
        this.placementEnforced = engine.placement.enforced() && workerCpumask.intersects(engine.onlineCpus());
        if (cpu >= 0 && !placementEnforced) {
            engine.cpuPoolUnpinned = true;
        }
        this.effectiveNice = attrs.nice();
    }

    /**
     * {@code worker_attach_to_pool()}'s {@code set_cpus_allowed_ptr()} and {@code set_user_nice()}:
     * the calling thread (a new worker, or a rescuer attaching) takes the pool's CPUs and nice.
     * Where that fails the pool reports {@code enforced: false} and the effective nice, and the
     * engine logs why once.
     */
    void placeCurrentThread() {
        ThreadPlacement p = engine.placement;
        if (!p.enforced()) {
            return;
        }
        CpuMask allowed = workerCpumask.and(engine.onlineCpus());
        String affinityError = allowed.isEmpty()
                ? "none of CPUs " + workerCpumask.toList() + " is online (online: " + engine.onlineCpus().toList() + ")"
                : p.setAffinity(allowed);
        String niceError = p.setNice(attrs.nice());
        int nice = attrs.nice();
        if (niceError != null) {
            int now = p.getNice();
            nice = now == Integer.MIN_VALUE ? nice : now;
        }
        effectiveNice = nice;
        if (affinityError != null) {
            if (cpu >= 0) {
                engine.cpuPoolUnpinned = true; // before this thread runs an item (see Workqueues#currentCpu)
            }
            placementEnforced = false;
            engine.placementProblem("cpus " + workerCpumask.toList(), "workqueue: cannot pin the workers of " + this
                    + " to CPUs " + allowed.toList() + " (" + affinityError + "); they run on any CPU");
        }
        if (niceError != null) {
            placementEnforced = false;
            engine.placementProblem("nice " + attrs.nice(), "workqueue: cannot set nice " + attrs.nice() + " for the workers of "
                    + this + " (" + niceError + "); their nice is " + nice
                    + (attrs.nice() < 0 ? ": raising priority needs CAP_SYS_NICE or a matching RLIMIT_NICE (ulimit -e)" : ""));
        }
    }

    boolean isUnbound() {
        return cpu < 0;
    }

    /** Thread name prefix: {@code kworker/0:}, {@code kworker/0:} + {@code H}, {@code kworker/u4:}. */
    String workerName(int workerId) {
        if (isUnbound()) {
            return "kworker/u" + id + ":" + workerId;
        }
        return "kworker/" + cpu + ":" + workerId + (highpri ? "H" : "");
    }

    // ---- the kernel's predicates; pool lock held --------------------------------------------

    boolean needMoreWorker() {
        return !worklist.isEmpty() && nrRunning == 0;
    }

    /**
     * Unbound pools: the workers that will look at the worklist before they sleep. They are not
     * idle and not inside a work function (between two items, waiting for this lock on the way
     * back from one, managing), or idle and already woken. The kernel's unbound pools wake an idle
     * worker for every pending item that finds none running; there a worker on its way back takes
     * the pool's spinlock in nanoseconds. Here it may wait for the lock, parked, so waking another
     * worker for an item that this one is about to take only adds a thread to the queue for the
     * lock, and one more worker at each round (the manager makes one whenever a worker starts with
     * none idle): on two CPUs a stream of short items grew the pool to hundreds of workers.
     * {@link #kickLocked()} therefore wakes a worker of an unbound pool only if none is looking, so
     * the items still start as soon as a worker is free, and a worker that starts an item with more
     * pending and nobody looking still wakes the next one, as {@code process_one_work()} does.
     */
    int lookingLocked() {
        return nrWorkers - nrIdle - nrExecuting + nrWokenIdle;
    }

    /** {@link #kickLocked()}'s condition: {@link #needMoreWorker()}, and for unbound pools nobody looking. */
    private boolean kickNeededLocked() {
        return needMoreWorker() && (!isUnbound() || lookingLocked() <= 0);
    }

    /** Unbound pools: a worker (not a rescuer) starts (+1, pool lock held) or ends (-1, without it) an item. */
    void executing(int delta) {
        NR_EXECUTING.getAndAdd(this, delta);
    }

    boolean mayStartWorking() {
        return nrIdle > 0;
    }

    boolean keepWorking() {
        return !worklist.isEmpty() && nrRunning <= 1;
    }

    boolean needToCreateWorker() {
        return needMoreWorker() && !mayStartWorking();
    }

    boolean tooManyWorkers() {
        int idle = nrIdle + (managerActive ? 1 : 0);
        int busy = nrWorkers - idle;
        return idle > 2 && (idle - 2) * MAX_IDLE_WORKERS_RATIO >= busy;
    }

    // ---- the intake --------------------------------------------------------------------------

    /**
     * The pool lock, the kernel's {@code pool->lock}: a reentrant mutex whose outermost acquisition
     * drains the intake and whose outermost release drains what was pushed meanwhile (see the
     * class comment). It is {@link PoolMutex}, not a {@link ReentrantLock}: it records its holder
     * by thread id, so taking it stores no reference (see {@link PoolMutex}).
     */
    final class PoolLock {
        private final PoolMutex mutex = new PoolMutex();

        void lock() {
            mutex.lock();
            drainIfOutermost();
        }

        void unlock() {
            boolean outermost = mutex.holdCount() == 1;
            mutex.release(1);
            if (outermost) {
                drainAfterUnlock();
            }
        }

        /** Takes the lock if it is free or already held by this thread; no drain. */
        boolean tryLock() {
            return mutex.tryAcquire(1);
        }

        /** Held by some thread (for tests and dumps). */
        boolean isLocked() {
            return mutex.isLocked();
        }

        /** {@code t} waits to take the lock (for tests). */
        boolean hasQueuedThread(Thread t) {
            return mutex.isQueued(t);
        }

        /** {@link #tryLock()}, draining the intake when it gets the lock (as {@link #lock()} does). */
        boolean tryLockAndDrain() {
            if (!tryLock()) {
                return false;
            }
            drainIfOutermost();
            return true;
        }

        /** Just acquired: the outermost acquisition takes in what was pushed before it. */
        private void drainIfOutermost() {
            if (intake != null && mutex.holdCount() == 1) {
                drainIntakeLocked(null);
            }
        }

        /** {@link #unlock()} without the drain, for the drain loop. */
        void release() {
            mutex.release(1);
        }
    }

    /**
     * The pool lock's mutex: {@link ReentrantLock}'s non-fair protocol on an
     * {@link AbstractQueuedSynchronizer} (state: the hold count, 0 when free; a CAS from 0 takes
     * it; contended acquirers queue and park in the synchronizer), except that the holder is kept
     * as its thread id, a {@code long}, where {@code ReentrantLock} keeps a {@code Thread}
     * reference. A reference store into a long-lived object costs G1 a post-write barrier with a
     * fence once that object is in the old generation, and this lock is taken about twice per item
     * (by the queuer and by the worker): about 5 % of a bound queue's no-op throughput on two CPUs
     * after the engine's objects were tenured ({@code docs/benchmarks.md}, "The engine's objects
     * in the old generation (G1)"). The kernel's {@code raw_spinlock_t} records no owner at all.
     *
     * <p>{@code ownerTid} is written only by the holder: set after its CAS from 0 succeeded, cleared
     * before the release store of the state that frees the lock. Other threads read it (plainly)
     * only to compare it with their own id; as with {@code ReentrantLock}'s owner field, a thread
     * can read its own id there only if it wrote it and has not cleared it since, so the plain
     * read never lets a non-holder in. Thread ids are positive and never reused, so 0 means none.
     */
    static final class PoolMutex extends AbstractQueuedSynchronizer {
        private long ownerTid;

        void lock() {
            if (compareAndSetState(0, 1)) {
                ownerTid = Thread.currentThread().threadId();
            } else {
                acquire(1);
            }
        }

        @Override
        protected boolean tryAcquire(int n) {
            long me = Thread.currentThread().threadId();
            int c = getState();
            if (c == 0) {
                if (compareAndSetState(0, n)) {
                    ownerTid = me;
                    return true;
                }
                return false;
            }
            if (ownerTid == me) {
                int next = c + n;
                if (next < 0) {
                    throw new Error("pool lock: maximum hold count exceeded");
                }
                setState(next);
                return true;
            }
            return false;
        }

        @Override
        protected boolean tryRelease(int n) {
            int c = getState() - n;
            if (c < 0 || ownerTid != Thread.currentThread().threadId()) {
                throw new IllegalMonitorStateException("pool lock released by a thread that does not hold it");
            }
            if (c == 0) {
                ownerTid = 0;
            }
            setState(c);
            return c == 0;
        }

        @Override
        protected boolean isHeldExclusively() {
            return ownerTid == Thread.currentThread().threadId();
        }

        /** This thread's holds, 0 if it does not hold the lock. */
        int holdCount() {
            return isHeldExclusively() ? getState() : 0;
        }

        boolean isLocked() {
            return getState() != 0;
        }
    }

    /**
     * Pushes an item for this pool ({@code w.pwq} set by the caller, which owns PENDING). If the
     * intake was empty, the caller drains it when the lock is free, unless a worker of an unbound
     * pool is looking (it drains); otherwise the holder of the lock drains it when it lets go.
     */
    void pushIntake(Work w) {
        Work top;
        do {
            top = intake;
            w.next = top; // the item is on no list while its producer owns PENDING and pushes
        } while (!INTAKE.weakCompareAndSet(this, top, w)); // volatile: the first half of both Dekker pairs
        if (top != null) {
            return; // the push that made it non-empty is still to be drained, with this one
        }
        if (isUnbound() && (int) NR_BUSY.getVolatile(this) - (int) NR_EXECUTING.getVolatile(this) > 0) {
            return; // a worker is looking: it drains (see "Who drains" in the class comment)
        }
        if (lock.tryLockAndDrain()) {
            lock.unlock(); // re-checks the intake, too
        }
    }

    /** After the lock was released: whatever was pushed while it was held is drained now. */
    private void drainAfterUnlock() {
        while (intake != null && lock.tryLock()) {
            try {
                drainIntakeLocked(null);
            } finally {
                lock.release();
            }
        }
    }

    /**
     * Moves every pushed item to its pool workqueue, in push order ({@code __queue_work()}'s
     * locked tail), pool lock held. An item whose pool workqueue was released meanwhile, or whose
     * queue was destroyed, is bounced (left off every list for its producer to settle: queue it
     * again, or be refused), unless it is {@code reviving}'s: a
     * pool workqueue being released takes such items and lives on (see
     * {@link Workqueue}'s release of retired pool workqueues).
     */
    void drainIntakeLocked(PoolWorkqueue reviving) {
        Work top = (Work) INTAKE.getAndSet(this, (Work) null);
        if (top == null) {
            return;
        }
        long now = 0; // one clock read for the batch (its items reach the pool now), if one needs it
        Work fifo = null; // reverse the stack into push order
        while (top != null) {
            Work n = top.next;
            top.next = fifo;
            fifo = top;
            top = n;
        }
        while (fifo != null) {
            Work w = fifo;
            fifo = w.next;
            w.next = null; // before insertion links it (or for a bounced item, which stays on no list)
            PoolWorkqueue pwq = w.pwq;
            boolean held = w.slotHeld;
            w.slotHeld = false;
            if ((pwq.dead && pwq != reviving) || pwq.wq.state == Workqueue.DESTROYED) {
                // Its producer sees the same (it re-reads after the push, and the flag was written
                // before the inspection that missed the item) and settles it; an item of a
                // destroyed queue must not start even if its producer's look comes later.
                w.bounced = true;
                if (held) {
                    pwq.releaseHeldSlotLocked();
                }
            } else if (held) {
                now = pwq.insertHeldLocked(w, now);
            } else {
                now = pwq.insertLocked(w, now);
            }
        }
    }

    // ---- worklist; pool lock held -----------------------------------------------------------

    /**
     * Appends {@code w} to the worklist. {@code now}: the clock if the caller read it, else 0; it is
     * needed (and read here if 0) only when the worklist was empty, for the watchdog.
     *
     * @return the clock as read, or {@code now}
     */
    long insertWorkLocked(Work w, long now) {
        boolean wasEmpty = worklist.isEmpty();
        if (wasEmpty) {
            if (now == 0) {
                now = System.nanoTime();
            }
            setWatchdogTs(now);
        }
        worklist.addLast(w);
        NR_PENDING.setRelease(this, worklist.size());
        // The monitor needs a poke only when items start to wait behind a running worker: here,
        // when the worklist was empty (see watchLocked() for the other transitions). Behind a
        // non-empty one they already waited, and the monitor parks only after it saw them not wait.
        if (!kickLocked() && wasEmpty) {
            watchLocked();
        }
        return now;
    }

    /**
     * Pending items wait behind a running worker of a per-CPU pool: the sleep monitor must watch
     * whether that worker sleeps. Called wherever either side of the condition can become true (an
     * item is inserted into an empty worklist, a worker starts an item or runs again), so the
     * monitor can park otherwise: it parks for good only after it saw no pool with both
     * ({@link SleepMonitor}), and the condition cannot become true again without one of these
     * transitions, each of which pokes after its store (the poke's fence is the Dekker pair's).
     * A worker that starts an item while the monitor watches for CPU hogs pokes it anyway, after
     * it published the execution, and skips this one ({@link Worker}).
     */
    void watchLocked() {
        if (nrRunning > 0 && !worklist.isEmpty() && !isUnbound()) {
            engine.monitor.poke();
        }
    }

    void removeWorkLocked(Work w) {
        WorkList l = worklist;
        l.remove(w);
        NR_PENDING.setRelease(this, l.size());
        if (++worklistTakes >= YOUNG_HOLDER_RUNS && l.isEmpty()) {
            worklistTakes = 0;
            worklist = new WorkList(this, WorkList.Kind.WORKLIST); // a young list again
        }
    }

    /**
     * {@code watchdogTs} and {@code nrPending} are written with release stores (no fence of their
     * own, on the hot path): their lock-free readers (watchdog, monitor) read them volatile, the
     * watchdog {@code nrPending} first, so a new count is never paired with an older timestamp.
     * The monitor's Dekker pair with {@code parked} gets its fence in {@link SleepMonitor#poke()}.
     */
    void setWatchdogTs(long now) {
        WATCHDOG_TS.setRelease(this, now);
    }

    /** An item starts; lock held. */
    void startedLocked() {
        STARTS.setRelease(this, (long) STARTS.get(this) + 1);
    }

    /** Items started so far (for the watchdog). */
    long starts() {
        return starts;
    }

    /**
     * The pool's last sign of progress for the watchdog: {@code watchdogTs}, or later, when the
     * watchdog saw items start that did not touch it (untimed ones; then as of that check).
     */
    long lastProgressNanos() {
        long ts = watchdogTs;
        long seen = progressSeenAt;
        return seen - ts > 0 ? seen : ts;
    }

    /** {@code kick_pool()}: wakes the first idle worker if more workers are needed. */
    boolean kickLocked() {
        Worker w = idleFirst;
        if (w == null || !kickNeededLocked()) {
            return false;
        }
        w.wakeLocked();
        return true;
    }

    /** {@code find_worker_executing_work()}: the worker of this pool running {@code w}, or null. */
    Worker findWorkerExecutingLocked(Work w) {
        Worker r = w.runner;
        return r != null && r.pool == this ? r : null;
    }

    // ---- idle list; pool lock held ----------------------------------------------------------

    /**
     * Publishes {@code nrBusy} after a change of {@code nrWorkers}, {@code nrIdle} or
     * {@code nrWokenIdle}. A change that lowers it is followed by the worker's outermost unlock,
     * whose re-check of the intake pairs with a producer's push and read (see the class comment).
     */
    void publishBusyLocked() {
        NR_BUSY.setVolatile(this, nrWorkers - nrIdle + nrWokenIdle);
    }

    /** {@code now}: the current time, or the end of the item the worker just finished. */
    void enterIdleLocked(Worker w, long now) {
        w.flags |= Worker.IDLE;
        w.lastActive = now;
        nrIdle++;
        publishBusyLocked();
        w.idlePrev = null;
        w.idleNext = idleFirst;
        if (idleFirst != null) {
            idleFirst.idlePrev = w;
        } else {
            idleLast = w;
        }
        idleFirst = w;
    }

    void leaveIdleLocked(Worker w) {
        if ((w.flags & Worker.IDLE) == 0) {
            return;
        }
        w.flags &= ~Worker.IDLE;
        nrIdle--;
        if (w.wokenWhileIdle) {
            w.wokenWhileIdle = false;
            nrWokenIdle--;
        }
        publishBusyLocked();
        if (w.idlePrev != null) {
            w.idlePrev.idleNext = w.idleNext;
        } else {
            idleFirst = w.idleNext;
        }
        if (w.idleNext != null) {
            w.idleNext.idlePrev = w.idlePrev;
        } else {
            idleLast = w.idlePrev;
        }
        w.idlePrev = null;
        w.idleNext = null;
    }

    // ---- worker creation and removal --------------------------------------------------------

    /**
     * {@code create_worker()}: makes a worker, puts it on the idle list and starts its thread (which
     * begins by leaving the idle list and checking for work). Called without the pool lock.
     *
     * @return the worker, or null if the thread could not be made (limit or factory failure)
     */
    Worker createWorker() {
        if (!engine.reserveWorker()) {
            engine.workerCreationFailed(this, null);
            return null;
        }
        Worker w;
        lock.lock();
        try {
            if (dying) {
                engine.releaseWorker();
                return null;
            }
            int wid = workerIds.nextClearBit(0);
            workerIds.set(wid); // reserved; the worker joins the pool only once its thread exists
            w = new Worker(this, wid);
        } finally {
            lock.unlock();
        }
        Thread t;
        try {
            t = engine.threadFactory.newThread(workerName(w.id), w);
            if (t == null) {
                throw new IllegalStateException("thread factory returned null");
            }
        } catch (Throwable e) { // the factory failed (or OutOfMemoryError)
            lock.lock();
            try {
                workerIds.clear(w.id);
            } finally {
                lock.unlock();
            }
            engine.releaseWorker();
            engine.workerCreationFailed(this, e);
            return null;
        }
        // worker_attach_to_pool(), then enter idle and wake it, as create_worker() does
        w.thread = t;
        lock.lock();
        try {
            nrWorkers++;
            workers.add(w);
            enterIdleLocked(w, System.nanoTime());
        } finally {
            lock.unlock();
        }
        engine.workerStarting(w);
        try {
            t.start();
        } catch (Throwable e) { // OutOfMemoryError: unable to create native thread
            lock.lock();
            try {
                leaveIdleLocked(w);
                removeWorkerLocked(w);
            } finally {
                lock.unlock();
            }
            engine.workerExited(w); // releases the reservation
            engine.workerCreationFailed(this, e);
            return null;
        }
        return w;
    }

    /** Pool lock held: forgets a worker that is exiting (or never started). */
    void removeWorkerLocked(Worker w) {
        nrWorkers--;
        publishBusyLocked();
        workerIds.clear(w.id);
        workers.remove(w);
    }

    /**
     * {@code manage_workers()}, pool lock held (dropped while creating). Only one manager at a time;
     * returns false if another worker is managing, in which case the caller just works.
     */
    boolean manageWorkersLocked() {
        if (managerActive || dying) {
            return false;
        }
        managerActive = true;
        try {
            maybeCreateWorkerLocked();
        } finally {
            managerActive = false;
        }
        return true;
    }

    /** The kernel's {@code MAYDAY_INITIAL_TIMEOUT} and {@code MAYDAY_INTERVAL}. */
    static final long MAYDAY_INITIAL_NANOS = TimeUnit.MILLISECONDS.toNanos(10);
    static final long MAYDAY_INTERVAL_NANOS = TimeUnit.MILLISECONDS.toNanos(100);

    /**
     * {@code maybe_create_worker()}: creates one worker if needed. The pool's mayday timer is armed
     * first (10 ms, then every 100 ms while workers are still needed), so MEM_RECLAIM queues are
     * rescued while creation fails or hangs. After a failed creation the pool waits the kernel's
     * one-second cooldown before trying again.
     */
    private void maybeCreateWorkerLocked() {
        engine.timer().armInternal(maydayTimer, System.nanoTime() + MAYDAY_INITIAL_NANOS);
        try {
            while (needToCreateWorker() && !dying && engine.runState != Workqueues.TERMINATED) {
                lock.unlock();
                Worker w;
                try {
                    w = createWorker();
                } finally {
                    lock.lock();
                }
                if (w != null || !needToCreateWorker() || dying || engine.runState == Workqueues.TERMINATED) {
                    break;
                }
                lock.unlock();
                try {
                    engine.creationCooldown(CREATE_COOLDOWN_NANOS);
                } finally {
                    lock.lock();
                }
            }
        } finally {
            engine.timer().disarm(maydayTimer); // del_timer_sync(&pool->mayday_timer)
        }
    }

    /** The pool's mayday timer ({@code pool_mayday_timeout}), on the engine timer's heap. */
    private final EngineTimer.InternalTimer maydayTimer = new EngineTimer.InternalTimer("mayday_timer") {
        @Override
        void expired() {
            lock.lock();
            try {
                if (needToCreateWorker()) {
                    sendMaydaysLocked();
                }
                if (managerActive && !dying) { // the manager disarms it when done
                    engine.timer().armInternal(this, System.nanoTime() + MAYDAY_INTERVAL_NANOS);
                }
            } finally {
                lock.unlock();
            }
        }
    };

    /** {@code pool_mayday_timeout()}: every MEM_RECLAIM queue with items waiting here gets a mayday. */
    void sendMaydaysLocked() {
        for (Work w = worklist.first(); w != null; w = w.next) {
            Rescuer r = w.pwq.wq.rescuer;
            if (r != null) {
                r.sendMayday(w.pwq);
            }
        }
    }

    // ---- waiting for pool workqueues to empty -----------------------------------------------

    void inFlightDrainedLocked() {
        for (int i = 0, n = drainWaiters.size(); i < n; i++) {
            LockSupport.unpark(drainWaiters.get(i));
        }
    }

    /**
     * Waits until {@code pwq} has nothing in flight or the deadline passes.
     *
     * @return true if it emptied
     */
    boolean awaitIdle(PoolWorkqueue pwq, long deadlineNanos) throws InterruptedException {
        return awaitLocked(() -> pwq.nrInFlightTotal == 0, deadlineNanos);
    }

    /** Waits until nothing of {@code pwq} is active (frozen queues: running items finished). */
    boolean awaitInactive(PoolWorkqueue pwq, long deadlineNanos) throws InterruptedException {
        return awaitLocked(() -> pwq.nrActive == 0, deadlineNanos);
    }

    /**
     * Checks {@code done} under the pool lock and parks, with the lock released, until it holds or
     * the deadline passes; {@link #inFlightDrainedLocked} unparks the waiters. Not a
     * {@code Condition}: releasing the lock must go through {@link PoolLock#unlock()}, which drains
     * the intake (see the class comment). A wake-up between the unlock and the park is kept by the
     * thread's permit.
     */
    private boolean awaitLocked(BooleanSupplier done, long deadlineNanos) throws InterruptedException {
        Thread me = Thread.currentThread();
        lock.lock();
        try {
            drainWaiters.add(me);
            try {
                while (!done.getAsBoolean()) {
                    if (Thread.interrupted()) {
                        throw new InterruptedException();
                    }
                    long left = deadlineNanos - System.nanoTime();
                    if (left <= 0) {
                        return false;
                    }
                    lock.unlock();
                    try {
                        LockSupport.parkNanos(this, left);
                    } finally {
                        lock.lock();
                    }
                }
                return true;
            } finally {
                drainWaiters.remove(me);
            }
        } finally {
            lock.unlock();
        }
    }

    /**
     * The items of {@code pwq} that wait (inactive, pending, on a worker's scheduled list) into
     * {@code queued}, and those running into {@code running}: what {@code shutdownNow()} of an
     * executor view cancels or interrupts.
     */
    void collectInFlight(PoolWorkqueue pwq, List<Work> queued, List<Work> running) {
        lock.lock();
        try {
            for (Worker w : workers) {
                if (w.currentPwq() == pwq && w.currentWork() != null) {
                    running.add(w.currentWork());
                }
                for (Work s = w.scheduled.first(); s != null; s = s.next) {
                    if (s.pwq == pwq) {
                        queued.add(s);
                    }
                }
            }
            for (Work s = worklist.first(); s != null; s = s.next) {
                if (s.pwq == pwq) {
                    queued.add(s);
                }
            }
            for (Work s = pwq.inactive.first(); s != null; s = s.next) {
                queued.add(s);
            }
        } finally {
            lock.unlock();
        }
    }

    /**
     * Interrupts each worker running an item of {@code pwq} that {@code which} accepts: what
     * {@code shutdownNow()} of an executor view does to its running tasks. Under the lock, so the
     * interrupt lands only between the worker's taking the item and its return to this lock
     * afterwards: it sets {@code currentWork()} under the lock before it runs the item, and after
     * the item clears its interrupt status and {@code currentWork()} in one hold of the lock, before
     * it takes anything else (see {@code Worker.processOneWorkLocked}).
     */
    void interruptRunning(PoolWorkqueue pwq, Predicate<Work> which) {
        lock.lock();
        try {
            for (Worker w : workers) {
                Work running = w.currentWork();
                if (w.currentPwq() == pwq && running != null && which.test(running)) {
                    w.thread.interrupt();
                }
            }
        } finally {
            lock.unlock();
        }
    }

    /** Items of {@code pwq} that are queued or running, for reports of what did not finish. */
    List<String> describeInFlight(PoolWorkqueue pwq) {
        List<String> out = new ArrayList<>();
        lock.lock();
        try {
            for (Worker w : workers) {
                if (w.currentPwq() == pwq) {
                    out.add(w.currentWork().name() + " (running on " + w.thread.getName() + ")");
                }
                for (Work s = w.scheduled.first(); s != null; s = s.next) {
                    if (s.pwq == pwq) {
                        out.add(s.name() + " (scheduled)");
                    }
                }
            }
            for (Work s = worklist.first(); s != null; s = s.next) {
                if (s.pwq == pwq) {
                    out.add(s.name() + " (pending)");
                }
            }
            for (Work s = pwq.inactive.first(); s != null; s = s.next) {
                out.add(s.name() + " (inactive)");
            }
        } finally {
            lock.unlock();
        }
        return out;
    }

    /** Tells every worker to exit once idle; busy ones finish their current item first. */
    void destroy() {
        lock.lock();
        try {
            dying = true;
            for (Worker w : workers) {
                w.flags |= Worker.DIE;
                w.wakeLocked();
            }
        } finally {
            lock.unlock();
        }
    }

    /** The kernel's {@code pr_cont_pool_info()}: {@code cpus=0 flags=0x0 nice=0}. */
    String kernelDescription() {
        // POOL_DISASSOCIATED (0x4) marks pools not bound to one CPU, as in the kernel
        return "cpus=" + attrs.cpumask().toList() + " flags=0x" + (isUnbound() ? "4" : "0") + " nice=" + attrs.nice();
    }

    /**
     * The kernel's {@code show_one_worker_pool()} plus the busy workers' items and Java stacks, and
     * the pending items: what a lockup report shows.
     */
    String dump(long now) {
        StringBuilder sb = new StringBuilder();
        List<Worker> busy = new ArrayList<>();
        List<String> pending = new ArrayList<>();
        int workersNow;
        int idleNow;
        lock.lock();
        try {
            workersNow = nrWorkers;
            idleNow = nrIdle;
            for (Worker w : workers) {
                if (w.currentWork() != null) {
                    busy.add(w);
                }
            }
            for (Work s = worklist.first(); s != null; s = s.next) {
                pending.add(s.name() + " (" + s.pwq.wq.name() + ")");
            }
            sb.append("pool ").append(id).append(": ").append(kernelDescription())
                    .append(" hung=").append(TimeUnit.NANOSECONDS.toSeconds(Math.max(0, now - lastProgressNanos()))).append('s')
                    .append(" workers=").append(workersNow).append(" idle=").append(idleNow)
                    .append(" running=").append(nrRunning).append('\n');
            for (Worker w : busy) {
                sb.append("  in-flight: ").append(w.thread.getName()).append(": ").append(w.currentWork().name())
                        .append(" (").append(w.currentPwq().wq.name()).append(")")
                        .append(w.sleeping != Worker.AWAKE ? " sleeping" : "").append('\n');
            }
        } finally {
            lock.unlock();
        }
        for (Worker w : busy) { // stacks outside the pool lock
            sb.append("  stack of ").append(w.thread.getName()).append(":\n");
            for (StackTraceElement e : w.thread.getStackTrace()) {
                sb.append("    at ").append(e).append('\n');
            }
        }
        if (!pending.isEmpty()) {
            sb.append("  pending: ").append(String.join(", ", pending)).append('\n');
        }
        return sb.toString();
    }

    PoolStats snapshot() {
        lock.lock();
        try {
            return new PoolStats(id, isUnbound() ? "unbound" : highpri ? "cpu-highpri" : "cpu", cpu,
                    attrs.nice(), workerCpumask, nrWorkers, nrIdle, nrRunning, worklist.size(), podCpumask,
                    affinityStrict, effectiveNice, placementEnforced,
                    engine.wallClock(lastProgressNanos()));
        } finally {
            lock.unlock();
        }
    }

    @Override
    public String toString() {
        return "pool " + id + (isUnbound() ? " (unbound, nice=" + attrs.nice() + " cpus=" + attrs.cpumask().toList()
                + (podCpumask.equals(attrs.cpumask()) ? "" : " pod=" + podCpumask.toList() + (affinityStrict ? " strict" : ""))
                + ")" : " (cpu " + cpu + (highpri ? " highpri)" : ")"));
    }
}
