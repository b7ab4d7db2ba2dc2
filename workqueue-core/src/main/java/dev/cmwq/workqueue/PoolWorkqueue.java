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
    static final int NR_STATS = 4;

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
        w.color = workColor;
        nrInFlight[workColor]++;
        nrInFlightTotal++;
        if (inactive.isEmpty() && nrActive < maxActive) {
            nrActive++;
            pool.insertWorkLocked(w);
        } else {
            inactive.addLast(w);
        }
    }

    /** An active item queued with flush {@code color} finished, pool lock held. */
    void completedLocked(int color) {
        nrActive--;
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
                nrActive--;
                activateInactiveLocked();
            }
            case SCHEDULED -> {
                l.remove(w);
                nrActive--;
                activateInactiveLocked();
            }
        }
        decNrInFlightLocked(w.color);
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
        while (nrActive < maxActive && (w = inactive.first()) != null) {
            inactive.remove(w);
            nrActive++;
            pool.insertWorkLocked(w);
        }
    }

    /** {@code pwq_adjust_max_active()}, pool lock held. */
    void setMaxActiveLocked(int n) {
        maxActive = n;
        activateInactiveLocked();
    }
}
