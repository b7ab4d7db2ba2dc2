package dev.cmwq.workqueue;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * A work item, the kernel's {@code work_struct}: one object stands for one asynchronous call of a
 * function. Queue it on a {@link Workqueue}; while it is pending, queueing it again is absorbed
 * ({@code queue} returns false). PENDING is cleared just before the function runs, so an item may be
 * queued again while it runs and then runs once more after; it never runs on two workers at once
 * (as long as it stays on one workqueue, the kernel's non-reentrance conditions).
 *
 * <p>Per item: {@link #flush()} waits for the last queueing to finish, {@link #cancel()} removes a
 * pending item in O(1), {@link #cancelSync()} also waits for a running one, {@link #disable()} /
 * {@link #enable()} nest, and queueing a disabled item returns false.
 *
 * <h2>Concurrency protocol</h2>
 * <ul>
 *   <li>{@code state}: atomic word, PENDING in bit 0 and the disable depth from bit 16. Whoever sets
 *       PENDING by CAS owns the item until it is on a list (or on the timer); a worker clears it
 *       after taking the item off the lists, before calling the function; a canceller that
 *       "grabs" PENDING ({@link #tryGrabPending()}) takes the item off its list and clears it.</li>
 *   <li>{@code prev}, {@code next}, {@code list}, {@code color}: guarded by the lock of the pool
 *       whose list holds the item ({@code list.pool}).</li>
 *   <li>{@code pwq}: volatile, written with release stores: by the PENDING owner before it
 *       pushes the item on the target pool's intake, and under the target pool's lock when the
 *       item joins the pool workqueue.</li>
 *   <li>{@code next} while the item is on a pool's intake, {@code bounced}: see their comments.</li>
 *   <li>{@code lastPool}, {@code runner}: volatile; written under the worker's pool lock.</li>
 *   <li>Generations, for {@link #flush()}: {@code queuedGen} is bumped by the PENDING owner;
 *       {@code startedGen} is set by the worker before it clears PENDING, {@code doneGen} after the
 *       function returns, {@code cancelledGen} by a canceller that removed a pending queueing.
 *       All volatile; a flusher of generation g is released when g is done, or was cancelled
 *       before it started. They are {@code int}s compared modulo 2<sup>32</sup>, as the kernel
 *       compares jiffies ({@code a - b > 0}, never {@code a > b}), so an item may be queued any
 *       number of times; the comparisons hold while the generations compared are less than
 *       2<sup>31</sup> apart, which only 2<sup>31</sup> cancelled queueings in a row, with no
 *       execution between them, could break.</li>
 * </ul>
 */
public class Work {
    /** {@code WORK_BUSY_PENDING}, a bit of {@link #busy()}. */
    public static final int BUSY_PENDING = 1;
    /** {@code WORK_BUSY_RUNNING}, a bit of {@link #busy()}. */
    public static final int BUSY_RUNNING = 2;

    static final int PENDING = 1;
    static final int DISABLE_SHIFT = 16;
    static final int DISABLE_ONE = 1 << DISABLE_SHIFT;
    static final int DISABLE_MAX = 0x7fff;

    private static final VarHandle STATE;
    private static final VarHandle QUEUED_GEN;
    private static final VarHandle PWQ;
    private static final VarHandle RUNNER;
    private static final VarHandle LAST_POOL;
    private static final VarHandle STARTED_GEN;

    static {
        try {
            STATE = MethodHandles.lookup().findVarHandle(Work.class, "state", int.class);
            QUEUED_GEN = MethodHandles.lookup().findVarHandle(Work.class, "queuedGen", int.class);
            PWQ = MethodHandles.lookup().findVarHandle(Work.class, "pwq", PoolWorkqueue.class);
            RUNNER = MethodHandles.lookup().findVarHandle(Work.class, "runner", Worker.class);
            LAST_POOL = MethodHandles.lookup().findVarHandle(Work.class, "lastPool", WorkerPool.class);
            STARTED_GEN = MethodHandles.lookup().findVarHandle(Work.class, "startedGen", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    @SuppressWarnings("unused") // accessed through STATE
    private volatile int state;

    // Guarded by the lock of the pool whose list holds this item.
    Work prev;
    /**
     * The next item on its list; or, while the item is on a pool's intake stack (where it is on no
     * list), the next older item there: written by the pushing producer before its CAS publishes
     * the item, read by the lock holder that took the stack ({@link WorkerPool#drainIntakeLocked}),
     * which then links the item into a list or clears it.
     */
    Work next;
    WorkList list;
    /** The flush color it was queued with, 0 to {@code WORK_NR_COLORS - 1}. */
    byte color;
    /**
     * When it reached its pool (queued under the pool lock, or taken in from the intake by the
     * lock holder, which reads the clock once per batch), for the queue-to-start latency; only if
     * {@code timing} is not 0.
     * Guarded by the pool lock.
     */
    long queuedAt;
    /**
     * How many items this one's timings count for in the statistics: 1, or
     * {@link PoolWorkqueue#TIMING_SAMPLE} for the timed one of a sampled backlog of short items;
     * 0 if it is not timed ({@code queuedAt} is then not set, and its worker reads no clock for
     * it). Set when it joins its pool workqueue; guarded by the pool lock.
     */
    byte timing;
    /**
     * Set by a drain that found the item's pool workqueue released: the item is on no list, and
     * its producer (which still owns PENDING) queues it again. Guarded by the pool's lock.
     */
    boolean bounced;
    /**
     * An unbound queue's max_active slot taken by the producer before the push (see
     * {@link PoolWorkqueue#insertHeldLocked}); written before the push, read and cleared by the
     * lock holder that takes the item in.
     */
    boolean slotHeld;

    volatile PoolWorkqueue pwq;
    volatile WorkerPool lastPool;
    volatile Worker runner;

    volatile int queuedGen;
    volatile int startedGen;
    volatile int doneGen;
    volatile int cancelledGen;
    private volatile WaitRoom waitRoom;

    private final String name;
    /** A Runnable, a Consumer of this item, or null for subclasses that override run(). */
    private final Object fn;

    /** An item that calls {@code fn}; named after the function's class. */
    public Work(Runnable fn) {
        this(nameOf(fn), fn);
    }

    /** An item that calls {@code fn}, shown as {@code name} in logs, dumps and statistics. */
    public Work(String name, Runnable fn) {
        this.name = Objects.requireNonNull(name, "name");
        this.fn = Objects.requireNonNull(fn, "fn");
    }

    /**
     * For subclasses that override {@link #run()}; the kernel's idiom of embedding the
     * {@code work_struct} in a larger object.
     */
    protected Work(String name) {
        this.name = Objects.requireNonNull(name, "name");
        this.fn = null;
    }

    Work(String name, Consumer<Work> fn, boolean selfAware) {
        this.name = Objects.requireNonNull(name, "name");
        this.fn = Objects.requireNonNull(fn, "fn");
    }

    /**
     * An item whose function receives the item itself, for functions that queue themselves again
     * (the kernel's self-requeueing idiom).
     */
    public static Work of(String name, Consumer<Work> fn) {
        return new Work(name, fn, true);
    }

    /** The work function. Subclasses built with {@link #Work(String)} override it. */
    @SuppressWarnings("unchecked")
    protected void run() {
        if (fn instanceof Runnable r) {
            r.run();
        } else {
            ((Consumer<Work>) fn).accept(this);
        }
    }

    public final String name() {
        return name;
    }

    /** True while the item is queued (or its timer armed) and has not started ({@code work_pending()}). */
    public final boolean isPending() {
        return ((int) STATE.getVolatile(this) & PENDING) != 0;
    }

    /** True while {@link #disable()} calls outnumber {@link #enable()} calls. */
    public final boolean isDisabled() {
        return ((int) STATE.getVolatile(this) >>> DISABLE_SHIFT) != 0;
    }

    /**
     * {@code work_busy()}: {@link #BUSY_PENDING} and/or {@link #BUSY_RUNNING}, or 0. Like the
     * kernel's, only a hint: it may be stale by the time it returns.
     */
    public final int busy() {
        int b = isPending() ? BUSY_PENDING : 0;
        return runner != null ? b | BUSY_RUNNING : b;
    }

    // ---- flush, cancel, disable -------------------------------------------------------------

    /**
     * {@code flush_work()}: waits until the last queueing of this item (made before the call) has
     * finished executing. A queueing cancelled before it started counts as finished.
     *
     * @return true if it waited, false if there was nothing to wait for
     * @throws IllegalStateException if called where waiting must deadlock: from this item's own
     *                               function, or from an item of the same ordered (or
     *                               max_active 1) pool workqueue the item is pending on
     */
    public boolean flush() {
        int target = queuedGen;
        if (flushed(target)) {
            return false;
        }
        checkFlushDependency("flush");
        awaitGeneration(target);
        return true;
    }

    /**
     * {@code cancel_work()}: if the item is pending, takes it off its queue so it won't run.
     * Does not wait for a running execution.
     *
     * @return true if it was pending
     */
    public boolean cancel() {
        boolean wasPending = grabPending();
        clearPending();
        return wasPending;
    }

    /**
     * {@code cancel_work_sync()}: removes a pending item and waits for a running one to finish;
     * while it waits, queueing the item returns false (so a self-requeueing item stops). When it
     * returns the item is idle and may be queued again.
     *
     * @return true if it was pending
     */
    public boolean cancelSync() {
        boolean wasPending = disableSync();
        enable();
        return wasPending;
    }

    /**
     * {@code disable_work()}: increments the disable depth and cancels a pending execution;
     * queueing returns false until as many {@link #enable()} calls.
     *
     * @return true if it was pending
     */
    public boolean disable() {
        int s;
        do {
            s = (int) STATE.getVolatile(this);
            if ((s >>> DISABLE_SHIFT) >= DISABLE_MAX) {
                throw new IllegalStateException("work item '" + name + "' disabled " + DISABLE_MAX + " times; enable() it first");
            }
        } while (!STATE.weakCompareAndSet(this, s, s + DISABLE_ONE));
        return cancel();
    }

    /** {@code disable_work_sync()}: {@link #disable()}, then waits for a running execution. */
    public boolean disableSync() {
        checkOwnFunction("cancelSync/disableSync");
        boolean wasPending = disable();
        flushRunning(); // only a running execution is waited for: a pending one was just removed
        return wasPending;
    }

    /**
     * {@code enable_work()}: undoes one {@link #disable()}.
     *
     * @return true if the item is now enabled (depth 0)
     * @throws IllegalStateException if the item is not disabled
     */
    public boolean enable() {
        int s;
        do {
            s = (int) STATE.getVolatile(this);
            if ((s >>> DISABLE_SHIFT) == 0) {
                throw new IllegalStateException("enable() of work item '" + name + "' that is not disabled");
            }
        } while (!STATE.weakCompareAndSet(this, s, s - DISABLE_ONE));
        return ((s - DISABLE_ONE) >>> DISABLE_SHIFT) == 0;
    }

    /** Waits for the execution running now, if any (not for a pending one). */
    final void flushRunning() {
        int target = startedGen;
        if (runner == null || flushed(target)) {
            return;
        }
        awaitGeneration(target);
    }

    /** True when generation {@code g} has run to completion or was cancelled before starting. */
    final boolean flushed(int g) {
        return doneGen - g >= 0 || (g - startedGen > 0 && cancelledGen - g >= 0);
    }

    private void checkOwnFunction(String what) {
        Worker cur = Worker.CURRENT.get();
        if (cur != null && cur.currentWork() == this) {
            throw new IllegalStateException(what + " of work item '" + name + "' from its own function would deadlock: "
                    + "it waits for an execution that cannot end (or start) before this one returns");
        }
    }

    private void checkFlushDependency(String what) {
        checkOwnFunction(what);
        Worker cur = Worker.CURRENT.get();
        if (cur == null || cur.currentWork() == null) {
            return;
        }
        PoolWorkqueue target = pwq;
        PoolWorkqueue own = cur.currentPwq();
        if (target != null && target == own && isPending() && (own.wq.ordered || own.maxActive == 1)) {
            throw new IllegalStateException(what + " of work item '" + name + "' from '" + cur.currentWork().name()
                    + "' would deadlock: both are on " + (own.wq.ordered ? "ordered" : "max_active 1") + " workqueue '"
                    + own.wq.name() + "', where it cannot start before the caller returns");
        }
    }

    private void awaitGeneration(int g) {
        WaitRoom room = waitRoom();
        boolean interrupted = false;
        // The engine's own waits count as sleeping, as the kernel's schedule() does.
        try (Blocking b = Workqueues.beginBlocking()) {
            room.enter();
            try {
                while (!flushed(g)) {
                    try {
                        room.await(TimeUnit.SECONDS.toMillis(1));
                    } catch (InterruptedException e) {
                        interrupted = true;
                    }
                }
            } finally {
                room.exit();
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    private WaitRoom waitRoom() {
        WaitRoom r = waitRoom;
        if (r == null) {
            synchronized (this) {
                r = waitRoom;
                if (r == null) {
                    r = new WaitRoom();
                    waitRoom = r;
                }
            }
        }
        return r;
    }

    private static final VarHandle DONE_GEN;

    static {
        try {
            DONE_GEN = MethodHandles.lookup().findVarHandle(Work.class, "doneGen", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /**
     * Records that generation {@code g} finished. Only ever raises {@code doneGen}: an item run on
     * two workqueues at once (which the kernel allows) may finish its older run last.
     */
    final void markDone(int g) {
        int d;
        do {
            d = doneGen;
            if (d - g >= 0) {
                return;
            }
        } while (!DONE_GEN.weakCompareAndSet(this, d, g));
    }

    /** Wakes flushers after a generation finished or was cancelled. */
    final void wakeFlushers() {
        WaitRoom r = waitRoom;
        if (r != null && r.waiters > 0) {
            synchronized (r) {
                r.notifyAll();
            }
        }
    }

    /**
     * Where flushers of one item wait, made on first use. {@code waiters} is changed under the
     * room's monitor and volatile, so a completion that finds it 0 needs no notify (Dekker-style
     * with the volatile generations).
     */
    private static final class WaitRoom {
        volatile int waiters;

        synchronized void enter() {
            waiters++;
        }

        synchronized void exit() {
            waiters--;
        }

        synchronized void await(long millis) throws InterruptedException {
            wait(millis);
        }
    }

    // ---- PENDING ----------------------------------------------------------------------------

    /**
     * Sets PENDING for a queueing; false if it was already set (absorbed) or the item is disabled.
     * On success the caller owns the item and its queueing generation is bumped.
     */
    final boolean testAndSetPending() {
        int s;
        do {
            s = (int) STATE.getVolatile(this);
            if ((s & PENDING) != 0 || (s >>> DISABLE_SHIFT) != 0) {
                return false;
            }
        } while (!STATE.weakCompareAndSet(this, s, s | PENDING));
        // A release store (no fence of its own): the owner publishes the item afterwards by a CAS
        // (the intake push) or under the pool lock, and whoever takes it from there sees the bump.
        QUEUED_GEN.setRelease(this, queuedGen + 1);
        return true;
    }

    /**
     * A worker of {@code worker.pool} starts execution {@code gen}, pool lock held: release stores
     * (no fence each), because PENDING is cleared by a CAS right after, which orders them for a
     * flusher or queuer that sees PENDING cleared; the pool lock orders them for everyone else.
     */
    final void startedByLocked(Worker worker, int gen) {
        RUNNER.setRelease(this, worker);
        LAST_POOL.setRelease(this, worker.pool);
        STARTED_GEN.setRelease(this, gen);
    }

    /** The execution by {@code worker} ended, pool lock held (a release store, as above). */
    final void finishedByLocked(Worker worker) {
        if (runner == worker) {
            RUNNER.setRelease(this, (Worker) null);
        }
    }

    /**
     * Points the item at the pool workqueue it is being pushed to, by its PENDING owner. A release
     * store: the intake push that follows is a CAS, which publishes it to the pool's lock holder;
     * a canceller that reads an older value finds the item on none of that pool's lists and looks
     * again ({@link #tryGrabPending()}).
     */
    final void setPwqForPush(PoolWorkqueue p) {
        PWQ.setRelease(this, p);
    }

    /**
     * Points the item at {@code p} under {@code p.pool}'s lock ({@code __queue_work()}'s locked
     * tail, also for an item drained from the intake). A release store, not a volatile one, whose
     * fence cost 3 % of a bound item's rate on one CPU and 6 % of an unbound one's: the lock's
     * release publishes it, and its lock-free readers only use it to find a pool whose lock they
     * then take, and look again if it was not the item's (see {@link #setPwqForPush}).
     */
    final void setPwqLocked(PoolWorkqueue p) {
        PWQ.setRelease(this, p);
    }

    /** Sets PENDING regardless of the disable depth; false if it was set. */
    private boolean setPendingRaw() {
        int s;
        do {
            s = (int) STATE.getVolatile(this);
            if ((s & PENDING) != 0) {
                return false;
            }
        } while (!STATE.weakCompareAndSet(this, s, s | PENDING));
        return true;
    }

    final void clearPending() {
        int s;
        do {
            s = (int) STATE.getVolatile(this);
        } while (!STATE.weakCompareAndSet(this, s, s & ~PENDING));
    }

    /**
     * {@code try_to_grab_pending()}, retried while the item is in transit (PENDING set but not yet on
     * a list or the timer). On return the caller owns PENDING.
     *
     * @return true if the item was pending (and is now off its list or timer)
     */
    final boolean grabPending() {
        for (int spins = 0; ; spins++) {
            int r = tryGrabPending();
            if (r >= 0) {
                return r == 1;
            }
            if (spins > 100) {
                Thread.yield();
            } else {
                Thread.onSpinWait();
            }
        }
    }

    /** One try: 1 grabbed a pending item, 0 the item was idle (PENDING now set), -1 in transit. */
    int tryGrabPending() {
        if (setPendingRaw()) {
            return 0;
        }
        PoolWorkqueue p = pwq;
        if (p == null) {
            return -1;
        }
        WorkerPool pool = p.pool;
        pool.lock.lock();
        try {
            WorkList l = list;
            if (l == null || l.pool != pool) {
                return -1; // not on a list of this pool: in transit, or running (PENDING about to clear)
            }
            pwq.cancelLocked(this);
            cancelledGen = queuedGen;
        } finally {
            pool.lock.unlock();
        }
        wakeFlushers();
        return 1;
    }

    @Override
    public String toString() {
        return name;
    }

    static String nameOf(Object fn) {
        String n = fn.getClass().getName();
        int lambda = n.indexOf("$$Lambda");
        return lambda >= 0 ? n.substring(0, lambda) + "$$Lambda" : n;
    }
}
