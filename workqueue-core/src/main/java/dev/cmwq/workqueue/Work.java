package dev.cmwq.workqueue;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * A work item, the kernel's {@code work_struct}: one object stands for one asynchronous call of a
 * function. Queue it on a {@link Workqueue}; while it is pending, queueing it again is absorbed
 * ({@code queue} returns false). PENDING is cleared just before the function runs, so an item may be
 * queued again while it runs and then runs once more after; it never runs on two workers at once
 * (as long as it stays on one workqueue, the kernel's non-reentrance conditions).
 *
 * <h2>Concurrency protocol</h2>
 * <ul>
 *   <li>{@code state} (PENDING bit): atomic. Whoever sets PENDING by CAS owns the item until it is
 *       on a list; a worker clears it (volatile write) after taking it off the lists, before calling
 *       the function. So at most one queuer links the item anywhere at a time.</li>
 *   <li>{@code prev}, {@code next}, {@code list}, {@code pwq}: guarded by the lock of the pool whose
 *       list holds the item (or, between the PENDING CAS and linking, owned by the queuer).</li>
 *   <li>{@code lastPool}: volatile; written by the worker under its pool's lock before PENDING is
 *       cleared, read by queuers to find where the item may still be running.</li>
 *   <li>{@code runner}: volatile; the worker executing the item, written under that worker's pool
 *       lock. A reader holding pool P's lock trusts it only if the worker belongs to P.</li>
 * </ul>
 */
public class Work {
    /** {@code WORK_BUSY_PENDING}, a bit of {@link #busy()}. */
    public static final int BUSY_PENDING = 1;
    /** {@code WORK_BUSY_RUNNING}, a bit of {@link #busy()}. */
    public static final int BUSY_RUNNING = 2;

    static final int PENDING = 1;

    private static final VarHandle STATE;

    static {
        try {
            STATE = MethodHandles.lookup().findVarHandle(Work.class, "state", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    @SuppressWarnings("unused") // accessed through STATE
    private volatile int state;

    // Guarded by the lock of the pool whose list holds this item.
    Work prev;
    Work next;
    WorkList list;
    PoolWorkqueue pwq;

    volatile WorkerPool lastPool;
    volatile Worker runner;

    private final String name;
    private final Consumer<Work> fn;

    /** An item that calls {@code fn}; named after the function's class. */
    public Work(Runnable fn) {
        this(nameOf(fn), fn);
    }

    /** An item that calls {@code fn}, shown as {@code name} in logs, dumps and statistics. */
    public Work(String name, Runnable fn) {
        Objects.requireNonNull(fn, "fn");
        this.name = Objects.requireNonNull(name, "name");
        this.fn = w -> fn.run();
    }

    /**
     * For subclasses that override {@link #run()}; the kernel's idiom of embedding the
     * {@code work_struct} in a larger object.
     */
    protected Work(String name) {
        this.name = Objects.requireNonNull(name, "name");
        this.fn = null;
    }

    private Work(String name, Consumer<Work> fn, boolean unused) {
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
    protected void run() {
        fn.accept(this);
    }

    public final String name() {
        return name;
    }

    /** True while the item is queued and has not started ({@code work_pending()}). */
    public final boolean isPending() {
        return (state & PENDING) != 0;
    }

    /**
     * {@code work_busy()}: {@link #BUSY_PENDING} and/or {@link #BUSY_RUNNING}, or 0. Like the
     * kernel's, only a hint: it may be stale by the time it returns.
     */
    public final int busy() {
        int b = isPending() ? BUSY_PENDING : 0;
        return runner != null ? b | BUSY_RUNNING : b;
    }

    /** Sets PENDING; false if it was already set (the item is absorbed). */
    final boolean testAndSetPending() {
        int s;
        do {
            s = state;
            if ((s & PENDING) != 0) {
                return false;
            }
        } while (!STATE.weakCompareAndSet(this, s, s | PENDING));
        return true;
    }

    final void clearPending() {
        int s;
        do {
            s = state;
        } while (!STATE.weakCompareAndSet(this, s, s & ~PENDING));
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
