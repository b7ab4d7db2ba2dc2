package dev.cmwq.workqueue;

/**
 * The link between one workqueue and one worker pool, the kernel's {@code pool_workqueue}. It
 * enforces the workqueue's {@code max_active} on that pool: up to {@code maxActive} items are
 * active (on the pool's worklist or running); the rest wait on {@code inactive}, in queueing
 * order, and are activated one by one as active items finish.
 *
 * <p>Every mutable field is guarded by {@code pool.lock}.
 */
final class PoolWorkqueue {
    static final int STAT_STARTED = 0;
    static final int STAT_COMPLETED = 1;
    static final int STAT_FAILED = 2;
    static final int STAT_CM_WAKEUP = 3;
    static final int NR_STATS = 4;

    final Workqueue wq;
    final WorkerPool pool;

    int nrActive;
    int maxActive;
    /** Queued and not finished: on the worklist, on the inactive list, scheduled or running. */
    int nrInFlight;
    final WorkList inactive = new WorkList();
    final long[] stats = new long[NR_STATS];

    PoolWorkqueue(Workqueue wq, WorkerPool pool, int maxActive) {
        this.wq = wq;
        this.pool = pool;
        this.maxActive = maxActive;
    }

    /**
     * {@code __queue_work()}'s tail, pool lock held: the item becomes active and goes to the pool's
     * worklist if the limit allows and nothing older waits; otherwise it waits on the inactive list.
     */
    void insertLocked(Work w) {
        w.pwq = this;
        nrInFlight++;
        if (inactive.isEmpty() && nrActive < maxActive) {
            nrActive++;
            pool.insertWorkLocked(w);
        } else {
            inactive.addLast(w);
        }
    }

    /** {@code pwq_dec_nr_in_flight()}, pool lock held: an active item finished. */
    void completedLocked() {
        nrActive--;
        activateInactiveLocked();
        if (--nrInFlight == 0) {
            pool.inFlightDrainedLocked();
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
