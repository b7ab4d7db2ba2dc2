package dev.cmwq.workqueue;

/**
 * The link between one workqueue and one worker pool, the kernel's {@code pool_workqueue}. It
 * enforces the workqueue's {@code max_active} on that pool: up to {@code maxActive} items are
 * active (on the pool's worklist, on a worker's scheduled list, or running); the rest wait on
 * {@code inactive}, in queueing order, and are activated one by one as active items finish.
 *
 * <p>It also counts in-flight items per flush color ({@code nrInFlight[color]}): each item takes
 * the pwq's {@code workColor} when queued; a workqueue flush moves every pwq to the next color and
 * waits until the older colors drain (see {@link Workqueue#flush()}). The cost per item is one
 * array slot incremented and decremented.
 *
 * <p>Every mutable field is guarded by {@code pool.lock}.
 */
final class PoolWorkqueue {
    static final int STAT_STARTED = 0;
    static final int STAT_COMPLETED = 1;
    static final int STAT_FAILED = 2;
    static final int STAT_CM_WAKEUP = 3;
    static final int STAT_MAYDAY = 4;
    static final int STAT_RESCUED = 5;
    static final int STAT_CPU_TIME = 6;
    static final int STAT_CPU_INTENSIVE = 7;
    static final int STAT_REPATRIATED = 8;
    static final int NR_STATS = 9;

    /** The kernel's {@code WORK_NR_COLORS}. */
    static final int NR_COLORS = 16;

    final Workqueue wq;
    final WorkerPool pool;

    int nrActive;
    int maxActive;
    /** Queued and not finished: on the worklist, on the inactive list, scheduled or running. */
    int nrInFlightTotal;
    final int[] nrInFlight = new int[NR_COLORS];
    /** The color new items take. */
    int workColor;
    /** The color being flushed on this pwq, or -1. */
    int flushColor = -1;
    final WorkList inactive;
    final long[] stats = new long[NR_STATS];
    final Histogram queueLatency = new Histogram();
    final Histogram runTime = new Histogram();
    /** FREEZABLE queue while the engine is frozen: nothing new becomes active. */
    boolean frozen;
    /** On its workqueue's rescuer's mayday list; guarded by the engine's mayday lock. */
    boolean onMaydayList;

    PoolWorkqueue(Workqueue wq, WorkerPool pool, int maxActive, int workColor) {
        this.wq = wq;
        this.pool = pool;
        this.maxActive = maxActive;
        this.workColor = workColor;
        this.inactive = new WorkList(pool, WorkList.Kind.INACTIVE);
    }

    /**
     * {@code __queue_work()}'s tail, pool lock held: the item becomes active and goes to the pool's
     * worklist if the limit allows and nothing older waits; otherwise it waits on the inactive list.
     */
    void insertLocked(Work w) {
        w.pwq = this;
        w.queuedAt = System.nanoTime();
        w.color = workColor;
        nrInFlight[workColor]++;
        nrInFlightTotal++;
        if (inactive.isEmpty() && nrActive < effectiveMaxActive()) {
            nrActive++;
            TraceEvents.activateWork(w, this);
            pool.insertWorkLocked(w);
        } else {
            inactive.addLast(w);
        }
    }

    /** An active item queued with flush {@code color} finished, pool lock held. */
    void completedLocked(int color) {
        activeDecrementedLocked();
        activateInactiveLocked();
        decNrInFlightLocked(color);
    }

    /** {@code try_to_grab_pending()}'s removal, pool lock held: {@code w} is on one of this pool's lists. */
    void cancelLocked(Work w) {
        WorkList l = w.list;
        switch (l.kind) {
            case INACTIVE -> inactive.remove(w);
            case WORKLIST -> {
                pool.removeWorkLocked(w);
                activeDecrementedLocked();
                activateInactiveLocked();
            }
            case SCHEDULED -> {
                l.remove(w);
                activeDecrementedLocked();
                activateInactiveLocked();
            }
        }
        decNrInFlightLocked(w.color);
    }

    /** One active item fewer; wakes freezers waiting for a frozen queue's active items to end. */
    private void activeDecrementedLocked() {
        if (--nrActive == 0 && frozen) {
            pool.inFlightDrainedLocked();
        }
    }

    /** {@code pwq_dec_nr_in_flight()}: a queued item of {@code color} is gone. */
    private void decNrInFlightLocked(int color) {
        nrInFlight[color]--;
        if (--nrInFlightTotal == 0) {
            pool.inFlightDrainedLocked();
        }
        if (color == flushColor && nrInFlight[color] == 0) {
            flushColor = -1;
            wq.flushPwqDone();
        }
    }

    /** Activates inactive items, oldest first, while the limit allows. */
    void activateInactiveLocked() {
        Work w;
        int limit = effectiveMaxActive();
        while (nrActive < limit && (w = inactive.first()) != null) {
            inactive.remove(w);
            nrActive++;
            TraceEvents.activateWork(w, this);
            pool.insertWorkLocked(w);
        }
    }

    /** max_active, or 0 while frozen (the kernel's freezer sets it so). */
    int effectiveMaxActive() {
        return frozen ? 0 : maxActive;
    }

    /** Freezing or thawing, pool lock held: thawing activates what waited. */
    void setFrozenLocked(boolean f) {
        frozen = f;
        activateInactiveLocked();
    }

    /** {@code pwq_adjust_max_active()}, pool lock held. */
    void setMaxActiveLocked(int n) {
        maxActive = n;
        activateInactiveLocked();
    }
}
